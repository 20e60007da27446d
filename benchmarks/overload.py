"""Early refusal under overload against today's queueing, in one run on one platform. Closed loops of 64 and
128 clients whose requests carry a deadline (X-Request-Timeout):

- llm: `/v1/completions`, 64 tokens each, 1 s deadline (the engine's own admission answers 429 past its 64
  requests in flight, in both modes);
- graphs: half `classify` (an image), half `recommend`, 0.5 s deadline.

A refused client (429, 503) waits out Retry-After (at most 2 s) before its next request, as a well-behaved
client does. Baseline (today): the same Ingress with `overload.enabled: false` (user_config, applied live):
every request queues; each cell measures today and then early refusal, back to back. Reported per row:
requests, the share refused at admission (503 overloaded) and 429, the share answered on time (200 within the
deadline), p50/p99 of the 200s, on-time answers per second.

Client: httpx.AsyncClient in the benchmark process, on the same 2 cores as the platform.
Writes benchmarks/results/overload.{json,md}. Run: `.venv/bin/python -m benchmarks.overload`.
"""

import asyncio
import base64
import itertools
import statistics
import time

import httpx

from serve_app.common.shapes import SHAPE_LABELS, shape_png
from serve_app.ops.local_cluster import LocalPlatform, local_platform
from testkit.loadgen import percentile
from testkit.platform import reconfigured, user_config_change
from testkit.results import markdown_table, write_results

DURATION_S, CONCURRENCIES = 20.0, (64, 128)
IMAGES = [{"image": base64.b64encode(shape_png(SHAPE_LABELS[i % 4], seed=i)).decode()} for i in range(32)]
COMPLETION = {"model": "tiny-llama", "prompt": "Review Seoul Garden.", "max_tokens": 64, "ignore_eos": True}
# name: (deadline in seconds, the i-th request's path and body)
WORKLOADS = {
    "llm": (1.0, lambda i: ("/v1/completions", COMPLETION)),
    "graphs": (0.5, lambda i: ("/v1/graphs/classify", IMAGES[i % len(IMAGES)]) if i % 2 else
               ("/v1/graphs/recommend", {"user_id": 1 + i % 500, "k": 10})),
}


async def run(platform: LocalPlatform, workload: str, concurrency: int, duration_s: float) -> dict:
    deadline_s, request = WORKLOADS[workload]
    outcomes: list[tuple[int, float, str | None]] = []  # status, seconds, problem title
    numbers = itertools.count()
    headers = {**platform.headers, "X-Request-Timeout": str(deadline_s)}
    async with httpx.AsyncClient(base_url=platform.base_url, headers=headers, timeout=60,
                                 limits=httpx.Limits(max_connections=concurrency)) as http:
        stop_at = time.monotonic() + duration_s

        async def client() -> None:
            while time.monotonic() < stop_at:
                path, body = request(next(numbers))
                started = time.perf_counter()
                try:
                    answer = await http.post(path, json=body)
                except httpx.TransportError:
                    outcomes.append((0, time.perf_counter() - started, "transport_error"))
                    continue
                title = answer.json().get("title") if answer.status_code >= 400 else None
                outcomes.append((answer.status_code, time.perf_counter() - started, title))
                if answer.status_code in (429, 503):
                    await asyncio.sleep(min(2.0, float(answer.headers.get("retry-after", "1"))))

        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    total = len(outcomes)
    answered = sorted(seconds * 1000 for status, seconds, _ in outcomes if status == 200)
    on_time = sum(status == 200 and seconds <= deadline_s for status, seconds, _ in outcomes)
    return {"workload": workload, "deadline_s": deadline_s, "concurrency": concurrency, "requests": total,
            "overloaded_share": round(sum(title == "overloaded" for *_, title in outcomes) / total, 3),
            "429_share": round(sum(status == 429 for status, *_ in outcomes) / total, 3),
            "on_time_share": round(on_time / total, 3),
            "late_or_failed": sum(status not in (200, 429) and title != "overloaded" or
                                  (status == 200 and seconds > deadline_s) for status, seconds, title in outcomes),
            "answered_p50_ms": round(statistics.median(answered), 1) if answered else None,
            "answered_p99_ms": round(percentile(answered, 0.99), 1) if answered else None,
            "on_time_per_s": round(on_time / elapsed, 1)}


def measure(platform: LocalPlatform) -> list[dict]:
    """Each workload and concurrency measured today (guard off) and then with early refusal, back to back, so
    neither mode gets the fresher platform."""
    rows = []
    for workload in WORKLOADS:
        asyncio.run(run(platform, workload, 16, 5))  # warm
        for concurrency in CONCURRENCIES:
            with reconfigured(platform, {"Ingress": user_config_change(overload={"enabled": False})}):
                today = asyncio.run(run(platform, workload, concurrency, DURATION_S))
            early = asyncio.run(run(platform, workload, concurrency, DURATION_S))
            rows.append({"workload": workload, "deadline_s": today["deadline_s"], "concurrency": concurrency,
                         "today": today, "early refusal": early,
                         "p99_ratio": ratio(early["answered_p99_ms"], today["answered_p99_ms"]),
                         "on_time_ratio": ratio(early["on_time_per_s"], today["on_time_per_s"])})
    return rows


def ratio(new: float | None, old: float | None) -> float | None:
    return round(new / old, 2) if new and old else None


def report(rows: list[dict]) -> str:
    def cells(r: dict) -> list:
        return [f"{r['overloaded_share']:.1%}", f"{r['429_share']:.1%}", f"{r['on_time_share']:.1%}",
                r["late_or_failed"], f"{r['answered_p50_ms']} / {r['answered_p99_ms']}", r["on_time_per_s"]]

    table = markdown_table(
        ["workload (deadline)", "c", "mode", "requests", "refused 503 overloaded", "429", "on time",
         "late or failed", "200s p50 / p99 ms", "on-time/s", "p99 ratio", "on-time/s ratio"],
        [[f"{r['workload']} ({r['deadline_s']:g} s)", r["concurrency"], mode, r[mode]["requests"], *cells(r[mode]),
          *((r["p99_ratio"], r["on_time_ratio"]) if mode == "early refusal" else ("", ""))]
         for r in rows for mode in ("today", "early refusal")])
    return ("# Early refusal under overload\n\n"
            f"Closed loops for {DURATION_S:g} s per row; a refused client waits out Retry-After (at most 2 s). "
            "today: the same Ingress with `overload.enabled: false`. Ratios: early refusal / today. "
            f"Client: httpx.AsyncClient, same 2 cores.\n\n{table}\n")


def main() -> None:
    with local_platform() as platform:
        rows = measure(platform)
    text = report(rows)
    write_results("overload", rows, text)
    print(text)


if __name__ == "__main__":
    main()
