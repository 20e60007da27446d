"""Streaming chat generation with one of the platform's LLMs (`--model`, the task model by default), side by side
in one run: transformers `generate` one request at a time (HF sequential), vLLM's own OpenAI server on the same
checkpoint with the same engine args as serve_config.yaml gives the model (`vllm serve`), and the platform's
`/v1/chat/completions`. Same messages, greedy, the
same number of tokens per request (ignore_eos); tokens/s and TTFT p50/p99 per concurrency, with
ratios against the targets (platform ≥ 5x HF tokens/s, ≤ 1.2x vllm-serve latency, TTFT p50 ≤ 500 ms
at the highest concurrency), and the memory each LLM replica of the platform holds at rest. Writes
benchmarks/results/<--results>.{json,md,png}; a platform that does not answer is reported as missing and the
baselines still run.

Run: `.venv/bin/python -m benchmarks.llm_vs_baselines [--model ID] [--results NAME] [--platform-url URL]
[--requests N]`.
"""

import argparse
import asyncio
import logging
from pathlib import Path

import httpx
import psutil
import torch

from benchmarks.llm_baselines import hf_sequential, running_vllm_serve
from benchmarks.llm_load import ChatPrompt, LLMLoadResult, openai_load, sweep
from benchmarks.plots import concurrency_figure
from serve_app.app import serve_config_args
from serve_app.common.settings import ARTIFACTS_REF, PlatformSettings
from serve_app.ops.local_cluster import admin_headers
from testkit.results import RESULTS, markdown_table, write_results

logger = logging.getLogger("benchmarks")
TTFT_SLO_MS, HF_SPEEDUP_TARGET, VLLM_LATENCY_TARGET, VLLM_TOKENS_TARGET = 500.0, 5.0, 1.1, 0.9
PROMPTS = [ChatPrompt(messages=[{"role": "user", "content": text}]) for text in (
    "Recommend a good place for kimchi stew.", "What should I order at Seoul Garden?",
    "Write a short review of the bibimbap at Hanok Table.", "Is the pizza at Mama Rosa worth the price?",
    "Describe an image of a red circle.", "Where can I get cold noodles in Busan?",
    "Tell me about the fried chicken at The Hungry Fox.", "Was the service at Jeju Grill quick?")]
# Tried in order: the first body a server accepts (HTTP 200) is the one measured.
OPTION_SETS = ({"ignore_eos": True, "include_usage": True}, {"ignore_eos": False, "include_usage": True},
               {"ignore_eos": False, "include_usage": False})


async def negotiate(base_url: str, model: str) -> tuple[dict | None, str]:
    """The options of OPTION_SETS this server accepts, or None and why it cannot be measured."""
    async with httpx.AsyncClient(base_url=base_url, headers=admin_headers(), timeout=30) as client:
        for options in OPTION_SETS:
            body = {"model": model, "messages": PROMPTS[0].messages, "max_tokens": 2, "stream": True,
                    **({"ignore_eos": True} if options["ignore_eos"] else {}),
                    **({"stream_options": {"include_usage": True}} if options["include_usage"] else {})}
            try:
                response = await client.post("/v1/chat/completions", json=body)
            except httpx.TransportError as error:
                return None, f"unreachable ({type(error).__name__})"
            if response.status_code == 200:
                return options, "ok"
        return None, f"HTTP {response.status_code}: {' '.join(response.text[:200].split())}"


async def openai_sweep(base_url: str, model: str, options: dict, concurrencies: list[int], requests: int,
                       max_tokens: int) -> list[LLMLoadResult]:
    def load(concurrency: int, n: int):
        return openai_load(base_url, model, PROMPTS, concurrency, n, max_tokens, include_usage=options["include_usage"],
                           extra_body=(lambda i: {"ignore_eos": True}) if options["ignore_eos"] else None)

    return await sweep(load, concurrencies, requests)


def served_model(model_id: str) -> tuple[str, Path, dict]:
    """The deployment serving `model_id` in serve_config.yaml, its checkpoint folder and its engine args."""
    args = serve_config_args()
    for name in args.llm.generators:
        init_args = args.models[name].init_args
        if init_args.get("model_id") == model_id:
            model_dir = PlatformSettings().artifacts_dir / init_args["model_dir"].removeprefix(ARTIFACTS_REF)
            return name, model_dir, init_args.get("engine_args") or {}
    raise SystemExit(f"serve_config.yaml has no generator with model_id {model_id!r}")


def replica_memory_mib() -> dict[str, float]:
    """Resident memory of each LLM replica of the running platform (its actor and the engine-core child
    process), by deployment: what the replicas hold at rest."""
    generators = serve_config_args().llm.generators
    found: dict[str, float] = {}
    for process in psutil.process_iter(["cmdline"]):
        title = " ".join(process.info["cmdline"] or [])
        for name in generators:
            if title.startswith(f"ray::ServeReplica:platform:{name}"):
                family = [process, *process.children(recursive=True)]
                found[name] = round(sum(p.memory_info().rss for p in family) / 2**20, 1)
    return found


def ratios(hf: list[LLMLoadResult], vllm: list[LLMLoadResult], platform: list[LLMLoadResult] | None) -> list[dict]:
    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a is not None and b else None

    rows = []
    for i, (base, reference) in enumerate(zip(hf, vllm)):
        ours = platform[i] if platform else None
        rows.append({"concurrency": base.concurrency,
                     "vllm_serve_vs_hf_tokens_per_s": ratio(reference.tokens_per_s, base.tokens_per_s),
                     "platform_vs_hf_tokens_per_s": ratio(ours.tokens_per_s if ours else None, base.tokens_per_s),
                     "platform_vs_vllm_latency_p50": ratio(ours.latency_p50_ms if ours else None,
                                                           reference.latency_p50_ms),
                     "platform_vs_vllm_latency_p99": ratio(ours.latency_p99_ms if ours else None,
                                                           reference.latency_p99_ms),
                     "platform_vs_vllm_tokens_per_s": ratio(ours.tokens_per_s if ours else None,
                                                            reference.tokens_per_s)})
    return rows


def targets(systems: dict[str, list[LLMLoadResult] | None], rows: list[dict]) -> dict[str, bool | None]:
    """None where the platform was not measured; a ratio that could not be computed fails."""
    top = rows[-1]["concurrency"]
    measured = systems["platform"] is not None
    speedup = rows[-1]["platform_vs_hf_tokens_per_s"] or 0
    slowdowns = [max(r["platform_vs_vllm_latency_p50"] or float("inf"),
                     r["platform_vs_vllm_latency_p99"] or float("inf")) for r in rows]
    shares = [r["platform_vs_vllm_tokens_per_s"] or 0 for r in rows]
    return {f"platform tokens/s ≥ {HF_SPEEDUP_TARGET:g}x HF sequential at c{top}":
                speedup >= HF_SPEEDUP_TARGET if measured else None,
            f"platform latency p50 and p99 ≤ {VLLM_LATENCY_TARGET:g}x vllm serve at every concurrency":
                max(slowdowns) <= VLLM_LATENCY_TARGET if measured else None,
            f"platform tokens/s ≥ {VLLM_TOKENS_TARGET:g}x vllm serve at every concurrency":
                min(shares) >= VLLM_TOKENS_TARGET if measured else None,
            **{f"{name} TTFT p50 ≤ {TTFT_SLO_MS:.0f} ms at c{top}":
                   None if not results else (results[-1].ttft_p50_ms or float("inf")) <= TTFT_SLO_MS
               for name, results in systems.items()}}


def report(systems: dict, notes: dict[str, str], rows: list[dict], checks: dict, config: dict) -> str:
    def cell(value) -> str:
        return "–" if value is None else str(value)

    def cells(concurrency: int, name: str, r: LLMLoadResult | None) -> list:
        if r is None:
            return [concurrency, name, "missing", *[""] * 8]
        per_request = round(r.completion_tokens / (r.requests - r.errors), 1) if r.requests > r.errors else None
        return [concurrency, name, r.tokens_per_s, *map(cell, (r.ttft_p50_ms, r.ttft_p99_ms, r.tpot_p50_ms,
                                                                r.latency_p50_ms, r.latency_p99_ms)),
                r.req_per_s, cell(per_request), r.errors]

    lines = [f"# Streaming chat with {config['model']}: HF sequential vs vllm serve vs platform (closed loop, "
             "this machine)", "",
             f"Engine args as serve_config.yaml gives {config['deployment']}: {config['engine_args']}.",
             f"{config['max_tokens']} tokens per request (greedy, ignore_eos), {len(PROMPTS)} chat prompts cycled, "
             f"float32 on CPU, torch threads {config['hf_threads']}; {config['requests']} requests per concurrency "
             f"({config.get('hf_requests', config['requests'])} for HF sequential). HF sequential is in-process "
             "(no HTTP, no detokenization); its TTFT and latency include the wait for its single worker.", "",
             *[f"- {name}: {note}" for name, note in notes.items()], "",
             markdown_table(["concurrency", "system", "tokens/s", "TTFT p50 ms", "TTFT p99 ms", "TPOT p50 ms",
                             "latency p50 ms", "latency p99 ms", "req/s", "tokens/req", "errors"],
                            [cells(concurrency, name, results[i] if results else None)
                             for i, concurrency in enumerate(config["concurrencies"])
                             for name, results in systems.items()]), "",
             markdown_table(["concurrency", "vllm serve / HF tokens/s", "platform / HF tokens/s",
                             "platform / vllm latency p50", "platform / vllm latency p99", "platform / vllm tokens/s"],
                            [[r["concurrency"], *(cell(r[key]) for key in (
                                "vllm_serve_vs_hf_tokens_per_s", "platform_vs_hf_tokens_per_s",
                                "platform_vs_vllm_latency_p50", "platform_vs_vllm_latency_p99",
                                "platform_vs_vllm_tokens_per_s"))] for r in rows])]
    lines += ["", "Targets:", ""]
    lines += [f"- {name}: {'not measured' if ok is None else 'met' if ok else 'NOT met'}"
              for name, ok in checks.items()]
    return "\n".join(lines)


def memory_report(memory: dict[str, float]) -> str:
    if not memory:
        return "\nLLM replicas' memory at rest: not measured (no platform replica on this machine)."
    return "\n".join(["", "LLM replicas' resident memory at rest (actor and engine-core process), before the load:", "",
                      markdown_table(["deployment", "RSS MiB"], [[name, mib] for name, mib in memory.items()])])


def plot(systems: dict[str, list[LLMLoadResult] | None], path: Path) -> None:
    with concurrency_figure(path, "completion tokens/s", "TTFT p50 (ms)") as (throughput, ttft):
        for name, results in systems.items():
            if results:
                concurrency = [r.concurrency for r in results]
                throughput.plot(concurrency, [r.tokens_per_s for r in results], marker="o", label=name)
                ttft.plot(concurrency, [r.ttft_p50_ms for r in results], marker="o", label=name)
        ttft.axhline(TTFT_SLO_MS, color="grey", linestyle="--", label=f"{TTFT_SLO_MS:.0f} ms")
        ttft.set_yscale("log")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platform-url", default="http://127.0.0.1:8000")
    parser.add_argument("--model", default="tiny-llama", help="model id the platform serves (vllm serve uses it too)")
    parser.add_argument("--results", default="llm_vs_baselines", help="name of the results files")
    parser.add_argument("--requests", type=int, default=96, help="per concurrency (at least 2x the concurrency)")
    parser.add_argument("--hf-requests", type=int, help="per concurrency for HF sequential (default --requests): "
                        "one request at a time, it is the slow one")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--concurrency", default="1,4,16")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    deployment, model_dir, engine_args = served_model(args.model)
    memory = replica_memory_mib()  # before the load: at rest

    # Probed first, so that a platform that is down costs seconds; measured last.
    platform_options, platform_note = asyncio.run(negotiate(args.platform_url, args.model))
    logger.info("platform at %s: %s", args.platform_url, platform_note)
    hf_requests = args.hf_requests or args.requests
    hf = hf_sequential(model_dir, PROMPTS, args.max_tokens, concurrencies, hf_requests)
    notes = {"hf_sequential": "transformers generate, min_new_tokens = max_new_tokens (EOS masked)"}
    with running_vllm_serve(model_dir, engine_args=engine_args, served_model_name=args.model) as url:
        options, note = asyncio.run(negotiate(url, args.model))
        if options is None:
            raise RuntimeError(f"vllm serve refused the benchmark's requests: {note}")
        notes["vllm_serve"] = f"options {options}"
        vllm = asyncio.run(openai_sweep(url, args.model, options, concurrencies, args.requests, args.max_tokens))
    platform = None
    notes["platform"] = f"{args.platform_url}: {platform_note}, " + (
        f"options {platform_options}" if platform_options else "missing")
    if platform_options:
        platform = asyncio.run(openai_sweep(args.platform_url, args.model, platform_options, concurrencies,
                                            args.requests, args.max_tokens))

    config = {"max_tokens": args.max_tokens, "requests": args.requests, "hf_requests": hf_requests,
              "concurrencies": concurrencies,
              "model": args.model, "deployment": deployment, "engine_args": engine_args,
              "platform_url": args.platform_url, "hf_threads": torch.get_num_threads()}
    systems = {"hf_sequential": hf, "vllm_serve": vllm, "platform": platform}
    rows = ratios(hf, vllm, platform)
    checks = targets(systems, rows)
    text = report(systems, notes, rows, checks, config) + "\n" + memory_report(memory) + "\n"
    write_results(args.results, {
        "config": config, "notes": notes,
        "results": {name: results and [r.model_dump() for r in results] for name, results in systems.items()},
        "ratios": rows, "targets": checks, "replica_memory_mib": memory}, text)
    plot(systems, RESULTS / f"{args.results}.png")
    logger.info(text)


if __name__ == "__main__":
    main()
