"""Closed-loop load: N concurrent callers, each issuing its next request when the last returns."""

import asyncio
import logging
import statistics
import time
from collections.abc import Awaitable, Callable

from pydantic import BaseModel

# httpx logs every request at INFO: a load generator doing that spends the cores the server needs.
logging.getLogger("httpx").setLevel(logging.WARNING)


class LoadResult(BaseModel):
    concurrency: int
    requests: int
    errors: int
    mean_ms: float
    p50_ms: float
    p99_ms: float
    req_per_s: float


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


async def closed_loop(call: Callable[[int], Awaitable[bool]], concurrency: int, requests: int) -> LoadResult:
    """Run `requests` calls of `call(i)` (True on success) with `concurrency` callers in flight."""
    latencies: list[float] = []
    errors = 0
    counter = iter(range(requests))

    async def caller() -> None:
        nonlocal errors
        for i in counter:
            started = time.perf_counter()
            ok = await call(i)
            latencies.append((time.perf_counter() - started) * 1000)
            errors += not ok

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return LoadResult(concurrency=concurrency, requests=requests, errors=errors,
                      mean_ms=round(statistics.fmean(latencies), 2),
                      p50_ms=round(statistics.median(latencies), 2),
                      p99_ms=round(percentile(latencies, 0.99), 2),
                      req_per_s=round(requests / elapsed, 1))
