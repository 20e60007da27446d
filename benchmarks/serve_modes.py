"""Per-hop cost of Ray Serve's modes on this machine: the same platform started three times in one
run, Serve's defaults vs RAY_SERVE_THROUGHPUT_OPTIMIZED=1 (direct ingress, no separate user-code
thread, GC frozen after start-up) with Serve's buffered request logs vs with the log line written
per request (what the Makefile ships). Writes benchmarks/results/serve_modes.{json,md}.

Run: `.venv/bin/python -m benchmarks.serve_modes`.
"""

import asyncio
import logging
import os

import httpx

from benchmarks.graphs_load import graph_callers
from serve_app.ops.local_cluster import admin_headers, local_platform
from testkit.loadgen import closed_loop
from testkit.results import markdown_table, write_results

logger = logging.getLogger("benchmarks")
MODES = {
    "serve defaults": {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "0", "RAY_SERVE_REQUEST_PATH_LOG_BUFFER_SIZE": "1"},
    "throughput-optimized, buffered logs": {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
                                            "RAY_SERVE_REQUEST_PATH_LOG_BUFFER_SIZE": "1000"},
    "throughput-optimized, unbuffered logs (shipped)": {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
                                                        "RAY_SERVE_REQUEST_PATH_LOG_BUFFER_SIZE": "1"},
}
LOADS = (("classify", 1), ("classify", 16), ("recommend", 1), ("recommend", 16))
REQUESTS = 300


async def measure(base_url: str) -> list[dict]:
    async with httpx.AsyncClient(base_url=base_url, headers=admin_headers(), timeout=60, limits=httpx.Limits(max_connections=16)) as client:
        callers = graph_callers(client)
        rows = []
        for graph, concurrency in LOADS:
            await closed_loop(callers[graph], 4, 40)
            result = await closed_loop(callers[graph], concurrency, REQUESTS)
            rows.append({"graph": graph, **result.model_dump()})
        return rows


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    results = {}
    for mode, env in MODES.items():
        # A fresh cluster per mode: the raylet hands this environment to every Serve process.
        os.environ.update(env)
        with local_platform() as platform:
            results[mode] = asyncio.run(measure(platform.base_url))
    baseline = results["serve defaults"]
    table = markdown_table(
        ["mode", "graph", "concurrency", "p50 ms", "p99 ms", "req/s", "req/s ratio", "p99 ratio"],
        [[mode, r["graph"], r["concurrency"], r["p50_ms"], r["p99_ms"], r["req_per_s"],
          f"{r['req_per_s'] / b['req_per_s']:.2f}", f"{r['p99_ms'] / b['p99_ms']:.2f}"]
         for mode, rows in results.items() for r, b in zip(rows, baseline)])
    text = f"# Ray Serve modes, same platform, same load (ratios against Serve's defaults)\n\n{table}\n"
    write_results("serve_modes", results, text)
    logger.info(text)


if __name__ == "__main__":
    main()
