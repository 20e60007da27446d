"""The ingress side of every LLM call, whatever the HTTP dialect: S1 preprocessing (length, whitespace,
PII) before the model, the opt-in semantic cache, error translation and S1's fallback answer."""

import asyncio
import logging
from collections.abc import AsyncIterator
from functools import partial

from ray.serve.handle import DeploymentHandle
from ray.serve.metrics import Counter

from serve_app.common.errors import ModelUnavailable, UnknownModel, as_platform_error
from serve_app.common.generation import Completion, Delta, GenerationRequest, StreamEvent, Usage
from serve_app.common.model_metadata import ModelMetadata
from serve_app.common.settings import LLMSettings
from serve_app.common.text_preprocessing import preprocess_text
from serve_app.llm.semantic_cache import SemanticCache, SemanticCacheConfig, cache_text, numbers_in
from serve_app.readiness import Liveness
from serve_app.security.caller import charge_tokens

logger = logging.getLogger("ray.serve")
# Response header naming where a completion came from: engine, cache or fallback.
SOURCE_HEADER = "X-Completion-Source"
# How long the models may take to say who they are (once per ingress replica).
DESCRIBE_TIMEOUT_S = 5.0


def events_of(completion: Completion) -> list[StreamEvent]:
    """A finished completion as a stream: one event with every choice's text, usage last."""
    deltas = [Delta(index=i, text=text, finish_reason=reason,
                    logprobs=completion.logprobs[i] if completion.logprobs else None)
              for i, (text, reason) in enumerate(zip(completion.texts, completion.finish_reasons))]
    return [StreamEvent(deltas=deltas, usage=completion.usage)]


class LLMService:
    """Calls the text generators (and the Embedder, for embeddings and the semantic cache) for the HTTP routers.
    Clients name a generator by its model id (OpenAI's `model`); each says its id once it has started."""

    # Fails a call with ModelUnavailable when its deployment has no live replica (serve_app/readiness.py):
    # a chat then fails (or falls back) at once instead of waiting for a replacement replica.
    liveness: Liveness | None = None

    def __init__(self, generators: dict[str, DeploymentHandle], embedder: DeploymentHandle,
                 liveness: Liveness | None = None):
        # By deployment name, in the config's order: the first serves requests that name no model (S1's /infer).
        self.generators, self.embedder, self.liveness = generators, embedder, liveness
        # Made once: options() builds a new handle object on every call.
        self._streams = {name: handle.options(stream=True) for name, handle in generators.items()}
        # Deployment name → what it said of itself; one still loading is asked again on the next lookup.
        self._described: dict[str, ModelMetadata] = {}
        self._cache_lookups = Counter("llm_semantic_cache_lookups", "Semantic cache lookups by result.",
                                      ("model", "result"))
        self.configure(LLMSettings(), SemanticCacheConfig())

    def configure(self, settings: LLMSettings, cache: SemanticCacheConfig) -> None:
        self.settings = settings
        self.cache = SemanticCache(cache) if cache.enabled else None

    async def describe(self) -> list[ModelMetadata]:
        """The generators' and the embedder's metadata (the ids clients name them by, and their versions), of
        those that have started: a model still loading is left out, the others are not held up by it."""
        handles = {**self.generators, self.embedder.deployment_name: self.embedder}
        missing = [name for name in handles if name not in self._described]
        if missing:
            await asyncio.gather(*(self._describe(name, handles[name]) for name in missing))
        return [self._described[name] for name in handles if name in self._described]

    async def _describe(self, name: str, handle: DeploymentHandle) -> None:
        try:
            self._described[name] = await asyncio.wait_for(self._live(name, handle.describe.remote),
                                                           DESCRIBE_TIMEOUT_S)
        except (TimeoutError, ModelUnavailable):
            pass  # still loading (or down): asked again next time

    async def generator(self, model: str | None) -> str:
        """The deployment serving `model` (the first generator when None): UnknownModel (404) for a model no
        generator serves, ModelUnavailable (503) while a generator that might serve it has not said its id."""
        if model is None:
            return next(iter(self.generators))
        await self.describe()
        for name in self.generators:
            if name in self._described and self._described[name].name == model:
                return name
        if any(name not in self._described for name in self.generators):
            raise ModelUnavailable(f"the model `{model}` is not among the models started so far; some are still "
                                   f"loading, retry shortly")
        raise UnknownModel(f"the model `{model}` does not exist; GET /v1/models lists what is served")

    async def embedder_for(self, model: str) -> DeploymentHandle:
        """The embedder, once `model` is known to be its id."""
        await self.describe()
        described = self._described.get(self.embedder.deployment_name)
        if described is None:
            raise ModelUnavailable("the embedding model is still loading; retry shortly")
        if described.name != model:
            raise UnknownModel(f"the model `{model}` does not exist; GET /v1/models lists what is served")
        return self.embedder

    async def _live(self, deployment: str, start):
        """`start()` awaited, failing fast when the deployment has no live replica."""
        if self.liveness is None:
            return await start()
        return await self.liveness.call(deployment, start)

    def prepare(self, request: GenerationRequest) -> GenerationRequest:
        """Truncate, collapse whitespace and mask PII in every text the model (and any log) will see."""
        clean = partial(preprocess_text, max_length=self.settings.llm_input_max_length)
        if request.prompt is not None:
            return request.model_copy(update={"prompt": clean(request.prompt)})
        messages = [message.model_copy(update={"content": clean(message.content)}) for message in request.messages]
        return request.model_copy(update={"messages": messages})

    async def complete(self, request: GenerationRequest, generator: str) -> Completion:
        """`request` answered whole by the `generator` deployment (see generator())."""
        # Off the event loop: each message costs little, but a 1 MiB body of them takes a few hundred ms.
        request = await asyncio.to_thread(self.prepare, request)
        key, embedding, cached = await self._cache_lookup(request, generator)
        if cached is not None:
            return cached
        try:
            completion = await self._live(generator, lambda: self.generators[generator].complete.remote(request))
        except Exception as error:
            return self._fallback_or_raise(error, request)
        await charge_tokens(completion.usage.total_tokens)
        if key is not None:
            self.cache.store(key, embedding, completion.model_copy(update={"source": "cache"}))
        return completion

    async def stream(self, request: GenerationRequest, generator: str) -> AsyncIterator[StreamEvent]:
        """`request` streamed by the `generator` deployment. Waits for the first event before answering, so a
        refusal still gets its own status code."""
        request = await asyncio.to_thread(self.prepare, request)
        _, _, cached = await self._cache_lookup(request, generator)
        if cached is not None:
            return _iterate(events_of(cached))
        responses = None

        def start():
            nonlocal responses
            responses = self._streams[generator].stream.remote(request)
            return anext(responses)

        try:
            first = await self._live(generator, start)
        except Exception as error:
            if responses is not None:
                responses.cancel()
            return _iterate(events_of(self._fallback_or_raise(error, request)))
        return _relay(first, responses)

    async def _cache_lookup(self, request: GenerationRequest, generator: str):
        """(key, embedding, hit): only greedy requests are cacheable. The prompt, or a chat's last message, is
        compared by meaning; all else must match exactly: model, sampling options, earlier messages, numbers."""
        if self.cache is None or request.sampling.temperature != 0:
            return None, None, None
        if request.prompt is not None:
            context, text = None, request.prompt
        else:
            # Not the whole chat: a system prompt every chat shares would make them all embed alike.
            *earlier, last = request.messages
            context, text = (tuple((message.role, message.content) for message in earlier), last.role), last.content
        key = (generator, context, request.sampling, numbers_in(text))
        embedding = (await self.embedder.embed.remote([cache_text(text)]))["embeddings"][0]
        cached = self.cache.lookup(key, embedding)
        model = self._described[generator].name if generator in self._described else generator
        self._cache_lookups.inc(tags={"model": model, "result": "miss" if cached is None else "hit"})
        return key, embedding, cached

    def _fallback_or_raise(self, error: Exception, request: GenerationRequest) -> Completion:
        problem = as_platform_error(error)
        fallback = self.settings.llm_fallback_response
        # The client's own mistakes (4xx other than overload) are never papered over.
        if fallback is None or (problem.status < 500 and problem.status != 429):
            raise problem from error
        logger.warning("LLM fallback answer served", extra={"problem": problem.title, "detail": problem.detail})
        n = request.sampling.n
        return Completion(texts=[fallback] * n, finish_reasons=["stop"] * n,
                          usage=Usage(prompt_tokens=0, completion_tokens=0), source="fallback")


async def _iterate(events: list[StreamEvent]) -> AsyncIterator[StreamEvent]:
    for event in events:
        yield event


async def _relay(first: StreamEvent, responses) -> AsyncIterator[StreamEvent]:
    # Tokens are charged from the last event's usage; a client gone before it pays one per event seen.
    events, usage = 0, None
    try:
        yield first
        events, usage = 1, first.usage
        async for event in responses:
            events, usage = events + 1, event.usage or usage
            yield event
    finally:
        # The client went away (or the stream ended): stop LLMServer, which aborts the engine request.
        responses.cancel()
        await charge_tokens(usage.total_tokens if usage is not None else events)
