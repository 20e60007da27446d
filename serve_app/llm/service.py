"""The ingress side of every LLM call, whatever the HTTP dialect: S1 preprocessing (length, whitespace,
PII) before the model, the opt-in semantic cache, error translation and S1's fallback answer."""

import asyncio
import logging
from collections.abc import AsyncIterator
from functools import partial

from ray.serve.handle import DeploymentHandle
from ray.serve.metrics import Counter

from serve_app.common.errors import ModelUnavailable, as_platform_error
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
    deltas = [Delta(index=i, text=text, finish_reason=reason)
              for i, (text, reason) in enumerate(zip(completion.texts, completion.finish_reasons))]
    return [StreamEvent(deltas=deltas, usage=completion.usage)]


class LLMService:
    """Calls LLMServer (and the Embedder for the semantic cache) for the HTTP routers."""

    # Fails a call with ModelUnavailable when its deployment has no live replica (serve_app/readiness.py):
    # a chat then fails (or falls back) at once instead of waiting for a replacement replica.
    liveness: Liveness | None = None

    def __init__(self, llm: DeploymentHandle, embedder: DeploymentHandle, liveness: Liveness | None = None):
        self.llm, self.embedder, self.liveness = llm, embedder, liveness
        # Made once: options() builds a new handle object on every call.
        self._llm_stream = llm.options(stream=True)
        self._metadata: tuple[ModelMetadata, ModelMetadata] | None = None
        self._cache_lookups = Counter("llm_semantic_cache_lookups", "Semantic cache lookups by result.",
                                      ("model", "result"))
        self.configure(LLMSettings(), SemanticCacheConfig())

    def configure(self, settings: LLMSettings, cache: SemanticCacheConfig) -> None:
        self.settings = settings
        self.cache = SemanticCache(cache) if cache.enabled else None

    async def describe(self) -> tuple[ModelMetadata, ModelMetadata]:
        """The generator's and the embedder's metadata: the ids clients name them by, and their versions."""
        if self._metadata is None:
            try:
                self._metadata = tuple(await asyncio.wait_for(asyncio.gather(
                    self.llm.describe.remote(), self.embedder.describe.remote()), DESCRIBE_TIMEOUT_S))
            except TimeoutError:
                raise ModelUnavailable("the language models are still loading; retry shortly") from None
        return self._metadata

    async def _live(self, start):
        """`start()` awaited, failing fast when the generator has no live replica."""
        if self.liveness is None:
            return await start()
        return await self.liveness.call(self.llm.deployment_name, start)

    def prepare(self, request: GenerationRequest) -> GenerationRequest:
        """Truncate, collapse whitespace and mask PII in every text the model (and any log) will see."""
        clean = partial(preprocess_text, max_length=self.settings.llm_input_max_length)
        if request.prompt is not None:
            return request.model_copy(update={"prompt": clean(request.prompt)})
        messages = [message.model_copy(update={"content": clean(message.content)}) for message in request.messages]
        return request.model_copy(update={"messages": messages})

    async def complete(self, request: GenerationRequest) -> Completion:
        # Off the event loop: each message costs little, but a 1 MiB body of them takes a few hundred ms.
        request = await asyncio.to_thread(self.prepare, request)
        key, embedding, cached = await self._cache_lookup(request)
        if cached is not None:
            return cached
        try:
            completion = await self._live(lambda: self.llm.complete.remote(request))
        except Exception as error:
            return self._fallback_or_raise(error, request)
        await charge_tokens(completion.usage.total_tokens)
        if key is not None:
            self.cache.store(key, embedding, completion.model_copy(update={"source": "cache"}))
        return completion

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamEvent]:
        """Wait for the first event before answering, so a refusal still gets its own status code."""
        request = await asyncio.to_thread(self.prepare, request)
        _, _, cached = await self._cache_lookup(request)
        if cached is not None:
            return _iterate(events_of(cached))
        responses = None

        def start():
            nonlocal responses
            responses = self._llm_stream.stream.remote(request)
            return anext(responses)

        try:
            first = await self._live(start)
        except Exception as error:
            if responses is not None:
                responses.cancel()
            return _iterate(events_of(self._fallback_or_raise(error, request)))
        return _relay(first, responses)

    async def _cache_lookup(self, request: GenerationRequest):
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
        key = (context, request.sampling, numbers_in(text))  # one cache per service, so per model
        embedding = (await self.embedder.embed.remote([cache_text(text)]))["embeddings"][0]
        cached = self.cache.lookup(key, embedding)
        model = (await self.describe())[0].name
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
