"""The declarative graph executor against the same graph hand-wired with handles, in one run on one
platform: `POST /v1/graphs/classify` (declared in serve_config.yaml: decode → DaliPreprocessor →
VisionClassifier, with an input schema, a timeout and a retry policy) vs `POST /hand-wired/classify`
(benchmarks/hand_wired.py, a FastAPI ingress beside the platform handing the DeploymentResponse straight
on). Rounds alternate between the two so drift hits both.

Writes benchmarks/results/graph_executor.{json,md}. Run: `.venv/bin/python -m benchmarks.graph_executor`.
"""

import asyncio
import base64
import statistics
import tempfile
from pathlib import Path

import httpx
import yaml

from benchmarks.configs import models_as_deployments
from benchmarks.hand_wired import ROUTE_PREFIX, wait_running, with_hand_wired
from serve_app.common.settings import REPO_ROOT
from serve_app.common.shapes import shape_png
from serve_app.ops.local_cluster import admin_headers, local_platform
from testkit.loadgen import LoadResult, closed_loop
from testkit.results import markdown_table, write_results

ROUTES = {"hand-wired": f"{ROUTE_PREFIX}/classify", "executor": "/v1/graphs/classify"}
CONCURRENCIES, ROUNDS, REQUESTS = (1, 16), 3, 300
# decode, preprocess, classify: the hops the executor adds its bookkeeping to.
HOPS = 3


async def measure(base_url: str) -> dict[str, dict[int, list[LoadResult]]]:
    body = {"image": base64.b64encode(shape_png("star", 4)).decode()}
    results: dict[str, dict[int, list[LoadResult]]] = {name: {c: [] for c in CONCURRENCIES} for name in ROUTES}
    async with httpx.AsyncClient(base_url=base_url, headers=admin_headers(), timeout=30,
                                 limits=httpx.Limits(max_connections=max(CONCURRENCIES))) as http:
        for name, route in ROUTES.items():
            assert (await http.post(route, json=body)).json()["label"] == "star"

        def caller(route: str):
            async def call(_: int) -> bool:
                return (await http.post(route, json=body)).status_code == 200
            return call

        for _ in range(ROUNDS):
            for concurrency in CONCURRENCIES:
                for name, route in ROUTES.items():
                    results[name][concurrency].append(await closed_loop(caller(route), concurrency, REQUESTS))
    return results


def summarise(results: dict[str, dict[int, list[LoadResult]]]) -> list[dict]:
    rows = []
    for concurrency in CONCURRENCIES:
        row = {"concurrency": concurrency}
        for name in ROUTES:
            runs = results[name][concurrency]
            row[name] = {key: round(statistics.median(getattr(run, key) for run in runs), 2)
                         for key in ("p50_ms", "p99_ms", "req_per_s")} | {"errors": sum(r.errors for r in runs)}
        hand, executor = row["hand-wired"], row["executor"]
        row["p50_ratio"] = round(executor["p50_ms"] / hand["p50_ms"], 3)
        row["p99_ratio"] = round(executor["p99_ms"] / hand["p99_ms"], 3)
        row["added_ms_per_hop"] = round((executor["p50_ms"] - hand["p50_ms"]) / HOPS, 2)
        rows.append(row)
    return rows


def report(rows: list[dict]) -> str:
    def cells(row: dict) -> list:
        hand, executor = row["hand-wired"], row["executor"]
        return [row["concurrency"], f"{hand['p50_ms']}/{hand['p99_ms']}", f"{executor['p50_ms']}/{executor['p99_ms']}",
                hand["req_per_s"], executor["req_per_s"], row["p50_ratio"], row["p99_ratio"], row["added_ms_per_hop"]]

    table = markdown_table(["c", "hand-wired p50/p99 ms", "executor p50/p99 ms", "hand-wired req/s", "executor req/s",
                            "p50 ratio", "p99 ratio", "added ms per hop (p50)"], map(cells, rows))
    return ("# Graph executor vs hand-wired handles (classify over HTTP, this machine)\n\n"
            f"Median of {ROUNDS} alternating rounds of {REQUESTS} closed-loop requests per concurrency.\n\n"
            f"{table}\n")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "serve_config.yaml"
        shipped = yaml.safe_load((REPO_ROOT / "serve_config.yaml").read_text())
        # The hand-wired graph calls the vision models over handles: they get deployments of their own.
        config.write_text(yaml.safe_dump(with_hand_wired(models_as_deployments(shipped))))
        with local_platform(config) as platform:
            wait_running(platform)
            rows = summarise(asyncio.run(measure(platform.base_url)))
    write_results("graph_executor", rows, report(rows))
    print(report(rows))


if __name__ == "__main__":
    main()
