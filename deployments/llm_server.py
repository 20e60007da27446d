"""LLM text generation on the vLLM async engine (continuous batching, SPEC §5), behind an admission
gate, with S1's timeout that aborts the engine request and per-request TTFT/TPOT metrics."""

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from ray import serve

from deployments.llm_engine import (
    ENGINE_ENV,
    RepetitionGuard,
    async_engine_args,
    delta_of,
    engine_error,
    sampling_params,
)
from serve_app.common.admission import AdmissionGate, AdmissionPolicy
from serve_app.common.errors import InvalidRequest
from serve_app.common.generation import (
    Completion,
    GenerationRequest,
    SamplingOptions,
    StreamEvent,
    Usage,
    caption_prompt,
    chat_ids,
    fit_prompt,
    without_repeated_tail,
)
from serve_app.common.llm_observability import GenerationTimer, LLMMetrics
from serve_app.common.model_metadata import ModelMetadata, artifact_version, tag_logs
from serve_app.common.settings import LLMSettings

logger = logging.getLogger("ray.serve")


class LLMServerConfig(BaseModel):
    """Live knobs (user_config): admission order, engine slots, and overrides of S1's env settings."""

    model_config = ConfigDict(extra="forbid")

    admission_policy: AdmissionPolicy = "shortest_prompt_first"
    # Requests generating at once; the rest wait at the gate, where their order can be chosen.
    engine_slots: int = Field(default=16, ge=1)
    limits: dict = Field(default_factory=dict)
    # Ends looping generations early (finish_reason "repetition"); null: off.
    repetition_guard: RepetitionGuard | None = Field(default_factory=RepetitionGuard)


@serve.deployment(ray_actor_options={"num_cpus": 0.5}, max_ongoing_requests=128)
class LLMServer:
    """Generates text with vLLM; the replica is ready only after the engine answered a warm-up."""

    async def __init__(self, model_dir: str, engine_args: dict | None = None, model_id: str = "tiny-llama"):
        for key, value in ENGINE_ENV.items():
            os.environ.setdefault(key, value)
        # Deferred: vllm brings torch and transformers (~7 s, ~0.7 GiB to import); only replicas
        # need it, not every process that imports this module to build the application.
        from vllm.v1.engine.async_llm import AsyncLLM

        started = time.perf_counter()
        # Clients name the model by its id (OpenAI's `model`); it has no V2 tensors.
        self.metadata = ModelMetadata(name=model_id, versions=[artifact_version(Path(model_dir))], platform="vllm")
        tag_logs(self.metadata)
        self.model_id = model_id
        self._engine = AsyncLLM.from_engine_args(async_engine_args(model_dir, engine_args))
        self._tokenizer = self._engine.get_tokenizer()
        self._max_model_len = self._engine.model_config.max_model_len
        self._gate = AdmissionGate(slots=1, max_in_flight=1)
        self._metrics = LLMMetrics(model_id)
        self.reconfigure({})
        warm_up = await self.caption("circle")
        logger.info("LLM engine for %s ready in %.1f s; warm-up caption %r",
                    model_dir, time.perf_counter() - started, warm_up)

    def reconfigure(self, user_config: dict) -> None:
        config = LLMServerConfig.model_validate(user_config)
        self.limits = LLMSettings(**config.limits)
        self._gate.configure(config.engine_slots, self.limits.max_concurrent_inference, config.admission_policy)
        self._metrics.ttft_sla_s = self.limits.llm_ttft_sla_sec
        self._repetition_guard = config.repetition_guard

    def describe(self) -> ModelMetadata:
        return self.metadata

    async def complete(self, request: GenerationRequest) -> Completion:
        n = request.sampling.n
        texts, reasons = [""] * n, ["stop"] * n
        logprobs = None if request.sampling.logprobs is None else [[] for _ in range(n)]
        async for event in self.stream(request):
            for delta in event.deltas:
                texts[delta.index] += delta.text
                reasons[delta.index] = delta.finish_reason or reasons[delta.index]
                if logprobs is not None:
                    logprobs[delta.index] += delta.logprobs
            usage = event.usage
        return Completion(texts=texts, finish_reasons=reasons, usage=usage, logprobs=logprobs)

    async def answer(self, request: GenerationRequest) -> str:
        """The first choice's text without its surrounding spaces: a graph node's answer to a task prompt. A loop
        the repetition guard ended is cut to one copy."""
        completion = await self.complete(request)
        text = completion.texts[0]
        if completion.finish_reasons[0] == "repetition":
            text = without_repeated_tail(text)
        return text.strip()

    async def caption(self, label: str) -> str:
        """One sentence describing an image of `label`, greedy, up to the end of the line."""
        options = SamplingOptions(max_tokens=32, temperature=0.0, stop=("\n",))
        return await self.answer(GenerationRequest(prompt=caption_prompt(label), sampling=options))

    def engine_stats(self) -> dict:
        """Requests the engine has not finished, and the gate's running and waiting counts."""
        return {"unfinished": self._engine.get_num_unfinished_requests(),
                "running": self._gate.running, "waiting": self._gate.waiting}

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamEvent]:
        """Yield the new text of every choice as the engine makes it; the last event has the usage."""
        deadline = asyncio.get_running_loop().time() + self.limits.inference_timeout_sec
        prompt_ids, sampling = self._fit(request)
        params = sampling_params(sampling, len(prompt_ids), self._max_model_len, self._repetition_guard)
        timer, result = GenerationTimer(), "FAILED"
        try:
            async with asyncio.timeout_at(deadline):
                await self._gate.acquire(len(prompt_ids))
            self._metrics.admission(self._gate.running, self._gate.waiting)
            try:
                outputs = self._engine.generate({"prompt_token_ids": prompt_ids}, params, uuid.uuid4().hex)
                # aclosing: however this generator ends (timeout, client gone), the engine request is aborted.
                async with contextlib.aclosing(outputs):
                    while True:
                        async with asyncio.timeout_at(deadline):
                            output = await anext(outputs, None)
                        if output is None:
                            break
                        event = StreamEvent(deltas=[delta_of(o, sampling) for o in output.outputs])
                        timer.tokens(sum(len(o.token_ids) for o in output.outputs))
                        self._metrics.choices_finished(d.finish_reason for d in event.deltas if d.finish_reason)
                        if output.finished:
                            event.usage = Usage(prompt_tokens=len(prompt_ids),
                                                completion_tokens=timer.completion_tokens)
                        yield event
            finally:
                self._gate.release()
                self._metrics.admission(self._gate.running, self._gate.waiting)
            result = "SUCCESS"
        except (asyncio.CancelledError, GeneratorExit):
            result = "CANCELLED"  # the client went away; aclosing above aborted the engine request
            raise
        except TimeoutError:
            result = "TIMEOUT"
            raise engine_error(TimeoutError(), self.limits.inference_timeout_sec) from None
        except Exception as error:
            problem = engine_error(error, self.limits.inference_timeout_sec)
            result = "REJECTED" if problem.status < 500 else "FAILED"  # a schema the engine cannot compile, ...
            raise problem from error
        finally:
            self._metrics.record(timer, len(prompt_ids), result, request.text())

    def _fit(self, request: GenerationRequest) -> tuple[list[int], SamplingOptions]:
        """Prompt token ids and sampling options that fit the context window, or InvalidRequest."""
        if request.messages is not None:
            ids = chat_ids(self._tokenizer, [m.model_dump() for m in request.messages])
        else:
            ids = self._tokenizer.encode(request.prompt)
        sampling = request.sampling
        if request.truncate_prompt:
            max_tokens = min(sampling.max_tokens or self._max_model_len, self._max_model_len // 2)
            sampling = sampling.model_copy(update={"max_tokens": max_tokens})
            return fit_prompt(ids, self._max_model_len, max_tokens), sampling
        if len(ids) + (sampling.max_tokens or 1) > self._max_model_len:
            raise InvalidRequest(f"this model's context window is {self._max_model_len} tokens; the prompt has "
                                 f"{len(ids)} and max_tokens asks for {sampling.max_tokens or 1} more")
        return ids, sampling

    async def check_health(self) -> None:
        await self._engine.check_health()

    def __del__(self):
        # Serve calls this on graceful shutdown; stops the engine-core child process.
        if engine := getattr(self, "_engine", None):
            engine.shutdown()
