"""LLM text generation on the vLLM async engine (continuous batching, SPEC §5)."""

import logging
import os
import time
import uuid

from ray import serve

logger = logging.getLogger("ray.serve")

# Set before the engine starts (setdefault, so a runtime_env can still override them).
ENGINE_ENV = {
    # AsyncLLM always runs its engine core in a child process; "0" keeps the model worker inside
    # that process instead of a third one (~0.9 GiB less, start-up ~9 s instead of ~17 s on CPU).
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
    # "auto" pins the OpenMP threads of every replica on a node to the same core; leave
    # placement to the OS and the replica's num_cpus.
    "VLLM_CPU_OMP_THREADS_BIND": "nobind",
    "VLLM_NO_USAGE_STATS": "1",
    # vLLM's own logging set-up runs dictConfig, which closes every existing handler, Serve's
    # JSON log file included: the replica would log nothing after the import.
    "VLLM_CONFIGURE_LOGGING": "0",
}
DEFAULT_ENGINE_ARGS = {
    "dtype": "float32",
    "max_model_len": 256,
    # No torch.compile: start-up in seconds, and a tiny model gains nothing from it.
    "enforce_eager": True,
    # The CPU KV cache is plain RAM; without an explicit size vLLM reserves a fraction of the host.
    "kv_cache_memory_bytes": 128 << 20,
    "max_num_seqs": 32,
    "disable_log_stats": True,
}


@serve.deployment(ray_actor_options={"num_cpus": 0.5}, max_ongoing_requests=32)
class LLMServer:
    """Generates text with vLLM; the replica is ready only after the engine answered a warm-up."""

    async def __init__(self, model_dir: str, engine_args: dict | None = None):
        for key, value in ENGINE_ENV.items():
            os.environ.setdefault(key, value)
        # Deferred: vllm brings torch and transformers (~7 s, ~0.7 GiB to import); only replicas
        # need it, not every process that imports this module to build the application.
        from vllm import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        started = time.perf_counter()
        args = AsyncEngineArgs(model=model_dir, **{**DEFAULT_ENGINE_ARGS, **(engine_args or {})})
        self._engine = AsyncLLM.from_engine_args(args)
        warm_up = await self.caption("circle")
        logger.info("LLM engine for %s ready in %.1f s; warm-up caption %r",
                    model_dir, time.perf_counter() - started, warm_up)

    async def _complete(self, prompt: str, max_tokens: int, temperature: float, stop: list[str] | None = None) -> str:
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=max_tokens, temperature=temperature, stop=stop)
        final = None
        async for output in self._engine.generate(prompt, params, request_id=uuid.uuid4().hex):
            final = output
        return final.outputs[0].text

    async def generate(self, prompt: str, max_tokens: int = 32, temperature: float = 0.0) -> str:
        """Continue `prompt`; temperature 0 is greedy."""
        return await self._complete(prompt, max_tokens, temperature)

    async def caption(self, label: str) -> str:
        """One sentence describing an image of `label`, greedy, up to the end of the line."""
        from serve_app.artifacts.llm import caption_prompt

        return (await self._complete(caption_prompt(label), 32, 0.0, stop=["\n"])).strip()

    async def check_health(self) -> None:
        await self._engine.check_health()

    def __del__(self):
        # Serve calls this on graceful shutdown; stops the engine-core child process.
        if engine := getattr(self, "_engine", None):
            engine.shutdown()
