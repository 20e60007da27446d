"""Closed-loop streaming load on any OpenAI-compatible `/v1/chat/completions`: TTFT, TPOT, latency
and completion tokens per request, aggregated per concurrency (and per prompt class via tags)."""

import json
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence

import httpx
from pydantic import BaseModel, Field

from serve_app.ops.local_cluster import admin_headers
from testkit.loadgen import closed_loop, percentile


class ChatPrompt(BaseModel):
    """One chat request's messages; `tag` names its class (short, long, ...) in per-request records."""

    messages: list[dict[str, str]]
    tag: str = "default"


class RequestRecord(BaseModel):
    index: int
    tag: str
    ok: bool
    ttft_ms: float | None = None
    latency_ms: float
    completion_tokens: int = 0
    tpot_ms: float | None = None
    error: str | None = None


class LLMLoadResult(BaseModel):
    concurrency: int
    requests: int
    errors: int
    ttft_p50_ms: float | None
    ttft_p99_ms: float | None
    tpot_p50_ms: float | None
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    completion_tokens: int
    tokens_per_s: float
    req_per_s: float
    elapsed_s: float
    # Kept out of model_dump() so results files stay one row per run; `by_tag` re-aggregates them.
    records: list[RequestRecord] = Field(default_factory=list, exclude=True)

    def by_tag(self) -> dict[str, "LLMLoadResult"]:
        """Per prompt class; rates are over the whole run's wall time, i.e. each class's share of it."""
        tags = sorted({record.tag for record in self.records})
        return {tag: summarize([r for r in self.records if r.tag == tag], self.concurrency, self.elapsed_s)
                for tag in tags}


def quantile_ms(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(statistics.median(values) if q == 0.5 else percentile(values, q), 2)


def summarize(records: list[RequestRecord], concurrency: int, elapsed_s: float) -> LLMLoadResult:
    """Percentiles over successful requests only; tokens/s is all completion tokens over wall time."""
    ok = [r for r in records if r.ok]
    tokens = sum(r.completion_tokens for r in ok)
    return LLMLoadResult(
        concurrency=concurrency, requests=len(records), errors=len(records) - len(ok),
        ttft_p50_ms=quantile_ms([r.ttft_ms for r in ok if r.ttft_ms is not None], 0.5),
        ttft_p99_ms=quantile_ms([r.ttft_ms for r in ok if r.ttft_ms is not None], 0.99),
        tpot_p50_ms=quantile_ms([r.tpot_ms for r in ok if r.tpot_ms is not None], 0.5),
        latency_p50_ms=quantile_ms([r.latency_ms for r in ok], 0.5), latency_p99_ms=quantile_ms([r.latency_ms for r in ok], 0.99),
        completion_tokens=tokens, tokens_per_s=round(tokens / elapsed_s, 1),
        req_per_s=round(len(records) / elapsed_s, 3), elapsed_s=round(elapsed_s, 3), records=records)


def timed_record(index: int, tag: str, started: float, first_token: float | None, tokens: int) -> RequestRecord:
    """A successful request's record from perf_counter() stamps taken by the caller."""
    latency_ms = (time.perf_counter() - started) * 1000
    ttft_ms = None if first_token is None else (first_token - started) * 1000
    tpot_ms = (latency_ms - ttft_ms) / (tokens - 1) if ttft_ms is not None and tokens > 1 else None
    return RequestRecord(index=index, tag=tag, ok=True, ttft_ms=ttft_ms, latency_ms=latency_ms,
                         completion_tokens=tokens, tpot_ms=tpot_ms)


async def llm_closed_loop(request: Callable[[int], Awaitable[RequestRecord]], concurrency: int,
                          requests: int) -> LLMLoadResult:
    """`loadgen.closed_loop` driving `request(i)`, keeping each request's record."""
    records: list[RequestRecord] = []

    async def call(i: int) -> bool:
        record = await request(i)
        records.append(record)
        return record.ok

    started = time.perf_counter()
    await closed_loop(call, concurrency, requests)
    return summarize(sorted(records, key=lambda r: r.index), concurrency, time.perf_counter() - started)


async def stream_chat(client: httpx.AsyncClient, index: int, tag: str, body: dict) -> RequestRecord:
    """POST one streaming chat completion and time it. Tokens come from the final `usage` chunk when
    the server sends one, else one per non-empty content delta."""
    started = time.perf_counter()
    first_token = None
    chunks, usage_tokens = 0, None
    try:
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            if response.status_code != 200:
                detail = (await response.aread()).decode(errors="replace")[:300]
                return RequestRecord(index=index, tag=tag, ok=False, latency_ms=(time.perf_counter() - started) * 1000,
                                     error=f"HTTP {response.status_code}: {detail}")
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                if chunk.get("usage"):
                    usage_tokens = chunk["usage"]["completion_tokens"]
                for choice in chunk.get("choices") or ():
                    if (choice.get("delta") or {}).get("content"):
                        first_token = first_token or time.perf_counter()
                        chunks += 1
    except (httpx.HTTPError, json.JSONDecodeError, KeyError) as error:
        return RequestRecord(index=index, tag=tag, ok=False, latency_ms=(time.perf_counter() - started) * 1000,
                             error=f"{type(error).__name__}: {error}")
    return timed_record(index, tag, started, first_token, chunks if usage_tokens is None else usage_tokens)


async def openai_load(base_url: str, model: str, prompts: Sequence[ChatPrompt], concurrency: int, requests: int,
                      max_tokens: int, extra_body: Callable[[int], dict] | None = None,
                      include_usage: bool = True) -> LLMLoadResult:
    """`requests` streaming greedy chat completions, prompts cycled, `concurrency` callers in flight.
    `extra_body(i)` is merged into request i's body (vLLM extensions, per-class knobs)."""
    # Plain httpx + line-level SSE parsing rather than `openai.AsyncOpenAI`: the SDK builds a pydantic
    # object per chunk and adds retry/header machinery on top of the same httpx client; on a 2-core
    # machine that client CPU competes with the servers under test, so the thinner client is fairer.
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, headers=admin_headers(), timeout=httpx.Timeout(300, connect=5), limits=limits) as client:
        async def request(i: int) -> RequestRecord:
            prompt = prompts[i % len(prompts)]
            body = {"model": model, "messages": prompt.messages, "max_tokens": max_tokens, "temperature": 0.0,
                    "stream": True}
            if include_usage:
                body["stream_options"] = {"include_usage": True}
            return await stream_chat(client, i, prompt.tag, {**body, **(extra_body(i) if extra_body else {})})

        return await llm_closed_loop(request, concurrency, requests)


async def sweep(load: Callable[[int, int], Awaitable[LLMLoadResult]], concurrencies: Sequence[int],
                requests: int) -> list[LLMLoadResult]:
    """`load(concurrency, requests)` per concurrency, each at least two rounds of callers so the last
    round's ramp-down does not dominate. The first requests to a fresh vLLM server run several times
    slower, so a warm-up at the highest concurrency and one unmeasured round per level come first."""
    top = max(concurrencies)
    await load(top, 2 * top)
    results = []
    for concurrency in concurrencies:
        await load(concurrency, concurrency)
        results.append(await load(concurrency, max(requests, 2 * concurrency)))
    return results
