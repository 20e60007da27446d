"""Two LLM features against their own "off" baseline, in one run on one platform (redeployed live):

1. Shortest-prompt-first admission vs FIFO: a mixed closed-loop load of short and long prompts with
   fewer engine slots than callers, so requests queue at LLMServer's gate; TTFT per prompt class.
2. Semantic cache: latency of greedy chat requests with the cache off, on and missing (an embedding
   lookup on top of the generation), and on and hitting (a near-duplicate of an earlier prompt).

Writes benchmarks/results/llm_admission_cache.{json,md}.
Run: `.venv/bin/python -m benchmarks.llm_admission_cache`.
"""

import asyncio
import time

import httpx

from benchmarks.llm_load import ChatPrompt, LLMLoadResult, openai_load, quantile_ms
from serve_app.ops.local_cluster import LocalPlatform, local_platform
from testkit.config import base_config, deployment_entry
from testkit.platform import reconfigured, user_config_change
from testkit.results import markdown_table, write_results

MODEL = "tiny-llama"
SLOTS, CONCURRENCY, REQUESTS, MAX_TOKENS = 4, 32, 384, 32
SHORT = ChatPrompt(messages=[{"role": "user", "content": "Rate Seoul Garden."}], tag="short")
# 218 prompt tokens: a long review to summarise, filling the 256-token window with the 32-token answer.
LONG = ChatPrompt(messages=[{"role": "user", "content": "Summarise this review: " + " ".join(
    ["The bibimbap at Hanok Table was fresh and the staff were kind, but we waited long."] * 8)}], tag="long")
RESTAURANTS = ("Seoul Garden", "Hanok Table", "Mama Rosa", "Jeju Grill", "Blue Door Bistro", "Golden Spoon",
               "The Hungry Fox", "Olive and Thyme", "Busan Noodle House", "Green Leaf Cafe")
# (question, near-duplicate) templates: each question is new to the cache, its twin should hit it.
CACHE_TEMPLATES = (("What is the best dish at {}?", "What's the best dish at {}?"),
                   ("Is {} good for a family dinner?", "Is {} good for a family dinner ?"),
                   ("How long is the wait at {}?", "How long is the wait at {} ?"),
                   ("Does {} have vegetarian options?", "Does {} have vegetarian options ?"),
                   ("What time does {} open?", "What time does {} open ?"))


def _ttft(result: LLMLoadResult, tag: str) -> dict:
    values = [r.ttft_ms for r in result.records if r.tag == tag and r.ok and r.ttft_ms is not None]
    return {"requests": len(values), "ttft_p50_ms": quantile_ms(values, 0.5), "ttft_p99_ms": quantile_ms(values, 0.99)}


async def admission(platform: LocalPlatform) -> dict:
    results = {}
    for policy in ("fifo", "shortest_prompt_first"):
        changes = {"LLMServer": user_config_change(admission_policy=policy, engine_slots=SLOTS)}
        with reconfigured(platform, changes):
            await openai_load(platform.base_url, MODEL, [SHORT, LONG], CONCURRENCY, CONCURRENCY, MAX_TOKENS)  # warm
            load = await openai_load(platform.base_url, MODEL, [SHORT, LONG], CONCURRENCY, REQUESTS, MAX_TOKENS,
                                     extra_body=lambda i: {"ignore_eos": True})
        results[policy] = {"short": _ttft(load, "short"), "long": _ttft(load, "long"),
                           "tokens_per_s": load.tokens_per_s, "errors": load.errors}
    return results


async def _ask(http: httpx.AsyncClient, questions: list[str]) -> list[tuple[float, str]]:
    """(latency ms, X-Completion-Source) of each greedy chat request, one after another."""
    answers = []
    for question in questions:
        started = time.perf_counter()
        response = await http.post("/v1/chat/completions", json={
            "model": MODEL, "max_tokens": MAX_TOKENS, "temperature": 0, "ignore_eos": True,
            "messages": [{"role": "user", "content": question}]})
        response.raise_for_status()
        answers.append(((time.perf_counter() - started) * 1000, response.headers["x-completion-source"]))
    return answers


def _summary(answers: list[tuple[float, str]]) -> dict:
    latencies = [latency for latency, _ in answers]
    return {"requests": len(latencies), "from_cache": sum(source == "cache" for _, source in answers),
            "p50_ms": quantile_ms(latencies, 0.5), "p99_ms": quantile_ms(latencies, 0.99)}


def _shipped_cache() -> dict:
    """The semantic cache's settings in serve_config.yaml (off there; its threshold is what is measured)."""
    return deployment_entry(base_config(), "Ingress")["user_config"]["semantic_cache"]


async def semantic_cache(platform: LocalPlatform) -> dict:
    questions = [question.format(name) for question, _ in CACHE_TEMPLATES for name in RESTAURANTS]
    twins = [twin.format(name) for _, twin in CACHE_TEMPLATES for name in RESTAURANTS]
    async with httpx.AsyncClient(base_url=platform.base_url, headers=platform.headers, timeout=60) as http:
        off = await _ask(http, questions)
        cache = user_config_change(semantic_cache={**_shipped_cache(), "enabled": True})
        with reconfigured(platform, {"Ingress": cache}):
            first = await _ask(http, questions)
            again = await _ask(http, twins)
    return {"cache off": _summary(off), "cache on, first ask": _summary(first),
            "cache on, near-duplicate": _summary(again)}


def report(results: dict) -> str:
    lines = ["# LLM admission order and semantic cache (this machine, one run)", "",
             f"Mixed closed loop: {CONCURRENCY} callers, {REQUESTS} streaming chat requests alternating a 13-token "
             f"and a 218-token prompt, {MAX_TOKENS} tokens each (ignore_eos), {SLOTS} engine slots.", "",
             markdown_table(["policy", "short TTFT p50 ms", "short TTFT p99 ms", "long TTFT p50 ms",
                             "long TTFT p99 ms", "tokens/s", "errors"],
                            [[policy, row["short"]["ttft_p50_ms"], row["short"]["ttft_p99_ms"],
                              row["long"]["ttft_p50_ms"], row["long"]["ttft_p99_ms"], row["tokens_per_s"],
                              row["errors"]] for policy, row in results["admission"].items()])]
    fifo, spf = results["admission"]["fifo"]["short"], results["admission"]["shortest_prompt_first"]["short"]
    lines += ["", f"Short-prompt TTFT, shortest-prompt-first ÷ FIFO: p50 "
                  f"{spf['ttft_p50_ms'] / fifo['ttft_p50_ms']:.2f}x, p99 {spf['ttft_p99_ms'] / fifo['ttft_p99_ms']:.2f}x.",
              "", f"Semantic cache as shipped (threshold {results['cache_threshold']}), sequential greedy chat requests "
                  f"({MAX_TOKENS} tokens, non-streaming):", "",
              markdown_table(["case", "requests", "answered from cache", "p50 ms", "p99 ms"],
                             [[case, row["requests"], row["from_cache"], row["p50_ms"], row["p99_ms"]]
                              for case, row in results["semantic_cache"].items()])]
    off, again = results["semantic_cache"]["cache off"], results["semantic_cache"]["cache on, near-duplicate"]
    lines += ["", f"Near-duplicate ÷ cache off, p50: {again['p50_ms'] / off['p50_ms']:.2f}x; "
                  f"hit ratio of near-duplicates {again['from_cache'] / again['requests']:.2f}."]
    return "\n".join(lines) + "\n"


async def run(platform: LocalPlatform) -> dict:
    return {"admission": await admission(platform), "semantic_cache": await semantic_cache(platform),
            "cache_threshold": _shipped_cache()["similarity_threshold"]}


def main() -> None:
    with local_platform() as platform:
        results = asyncio.run(run(platform))
    write_results("llm_admission_cache", results, report(results))
    print(report(results))


if __name__ == "__main__":
    main()
