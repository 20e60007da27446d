"""Where the Ingress replica's CPU goes under load: py-spy samples of the replica (shipped configuration)
while `classify` and then `recommend` run at c16, grouped by what the code is (the hosted models, the gate,
FastAPI, Serve's replica machinery, metrics, logging, ...), with the CPU milliseconds each request costs
the replica process. Client: httpx in this process. Writes benchmarks/results/ingress_profile.{json,md}.

Run: `.venv/bin/python -m benchmarks.ingress_profile` on a quiet machine (py-spy may need root or ptrace).
"""

import asyncio
import collections
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from benchmarks.serving_cost import SHIPPED_ENV, json_caller
from serve_app.ops.local_cluster import local_platform
from testkit.loadgen import closed_loop
from testkit.results import markdown_table, write_results

REQUESTS, CONCURRENCY, RATE_HZ = 2500, 16, 200
PY_SPY = str(Path(sys.executable).parent / "py-spy")
# Checked from the sampled frame towards the stack's root: the first file that matches names the cost.
CATEGORIES = [
    ("hosted models", ("deployments/", "onnxruntime", "nvidia/dali", "lightgbm", "feast/", "recsys_features")),
    ("metrics", ("ray/util/metrics.py", "ray/serve/metrics.py", "graph_metrics.py", "serve/_private/metrics_utils")),
    ("logging", ("logging/", "logging_utils.py")),
    ("gate: keys, limits, body (serve_app/security)", ("serve_app/security/",)),
    ("graph runner and executor", ("graphs/",)),
    ("FastAPI and Starlette", ("fastapi/", "starlette/")),
    ("HTTP server (uvicorn) and sockets", ("uvicorn/", "httptools", "h11", "asyncio/streams.py", "selector_events")),
    ("Serve's replica machinery", ("ray/serve/",)),
    ("Ray core worker", ("ray/_private/", "_raylet")),
    # py-spy counts a thread blocked inside C (a pool's queue.get, a DALI or Ray worker's wait) as busy.
    ("worker threads waiting in C (pools, DALI, Ray)", ("concurrent/futures/", "threading.py")),
    ("asyncio", ("asyncio/",)),
]


def category(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, markers in CATEGORIES:
            if any(marker in frame for marker in markers):
                return name
    return "other"


def summarize(folded: Path) -> tuple[dict[str, float], list[tuple[str, float]]]:
    """Share of samples per category, and the top frames by own samples."""
    by_category, by_frame, total = collections.Counter(), collections.Counter(), 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames, samples = stack.split(";"), int(count)
        total += samples
        by_category[category(frames)] += samples
        by_frame[frames[-1].split(" (")[0]] += samples
    shares = {name: round(100 * n / total, 1) for name, n in by_category.most_common()}
    return shares, [(frame, round(100 * n / total, 1)) for frame, n in by_frame.most_common(12)]


def cpu_seconds(pid: str) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def profile(base_url: str, headers: dict, graph: str, pid: str, out: Path) -> dict:
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60, limits=limits) as client:
        call = json_caller(client, graph)
        await closed_loop(call, 4, 100)
        spy = subprocess.Popen([PY_SPY, "record", "--pid", pid, "--rate", str(RATE_HZ), "--format", "raw",
                                "--output", str(out), "--nonblocking", "--duration", "600"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cpu_before = cpu_seconds(pid)
        load = await closed_loop(call, CONCURRENCY, REQUESTS)
        cpu = cpu_seconds(pid) - cpu_before
        spy.send_signal(signal.SIGINT)  # py-spy writes what it sampled when interrupted
        spy.wait(timeout=60)
    shares, frames = summarize(out)
    return {"load": load.model_dump(), "ingress_cpu_ms_per_request": round(1000 * cpu / REQUESTS, 2),
            "categories_percent": shares, "top_frames_percent": frames}


def main() -> None:
    os.environ.update(SHIPPED_ENV)
    results = {}
    with local_platform() as platform, tempfile.TemporaryDirectory() as scratch:
        pids = subprocess.run(["pgrep", "-f", "ServeReplica:platform:Ingress"], capture_output=True,
                              text=True).stdout.split()
        for graph in ("classify", "recommend"):
            results[graph] = asyncio.run(profile(platform.base_url, platform.headers, graph, pids[0],
                                                 Path(scratch) / f"{graph}.folded"))
    lines = ["# The Ingress replica under load: where its CPU goes", "",
             f"py-spy at {RATE_HZ} Hz on the Ingress replica (shipped configuration: HAProxy, vision and RecSys "
             f"models hosted in the Ingress) while {REQUESTS} requests ran at c{CONCURRENCY} (httpx, JSON route). "
             "A sample counts for the first known code found from the sampled frame up its stack.", ""]
    for graph, result in results.items():
        load = result["load"]
        lines += [f"## {graph}: {load['req_per_s']} req/s, p50 {load['p50_ms']} ms, p99 {load['p99_ms']} ms; "
                  f"Ingress CPU {result['ingress_cpu_ms_per_request']} ms per request", "",
                  markdown_table(["where", "% of samples"], result["categories_percent"].items())]
        lines += ["", "Top frames by own samples: " + "; ".join(f"{f} {s}%" for f, s in result["top_frames_percent"]), ""]
    text = "\n".join(lines) + "\n"
    write_results("ingress_profile", results, text)
    print(text)


if __name__ == "__main__":
    main()
