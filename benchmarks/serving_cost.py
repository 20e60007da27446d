"""What serving costs: `classify` and `recommend` on the platform's shipped configuration vs the platform
on Ray Serve's defaults vs Triton (PyTriton, classify) vs the same model code in one plain process, at
c1/c16/c64, over HTTP (the JSON graph route and KServe V2 binary tensors) and gRPC (KServe V2), with a
per-stage breakdown of the platform's own request path. Auth, rate limits, request ids, logs, metrics and
the graph policies stay on in every platform run.

- shipped: what `make run` ships: HAProxy on port 8000 in front of the Ingress replicas' direct ingress,
  throughput-optimized Serve, the vision and RecSys models hosted in the Ingress replica.
- serve defaults: Serve's proxy and modes, every model a deployment of its own (one handle hop per
  stage), the same models, graphs, limits and batching.

Clients (in this process, on the same 2 cores as the servers): httpx for the JSON route, tritonclient
http.aio and grpc.aio for V2. Writes benchmarks/results/serving_cost.{json,md,png}.
Run: `.venv/bin/python -m benchmarks.serving_cost` (needs `make triton-setup`), on a quiet machine.
"""

import asyncio
import logging
import os
from pathlib import Path

import httpx
import numpy as np
import tritonclient.grpc.aio as grpcclient
import tritonclient.http.aio as httpclient
import yaml

from benchmarks.classify_vs_plain import plain_process_caller
from benchmarks.configs import models_as_deployments
from benchmarks.graphs_load import graph_callers
from benchmarks.plots import concurrency_figure
from benchmarks.stage_breakdown import StageClock
from deployments.feature_lookup import FeatureLookup
from deployments.ranker import Ranker
from serve_app.artifacts import ArtifactLayout
from serve_app.common.settings import REPO_ROOT, PlatformSettings
from serve_app.common.shapes import SHAPE_LABELS, shape_png
from serve_app.ops.local_cluster import LocalPlatform, local_platform
from testkit.loadgen import LoadResult, closed_loop
from testkit.results import RESULTS, markdown_table, write_results
from testkit.triton_reference import running_triton

logger = logging.getLogger("benchmarks")
CONCURRENCIES = (1, 16, 64)
REQUESTS = {1: 200, 16: 800, 64: 1200}
BREAKDOWN_AT = (1, 16)
# About 40 s of c64 before any measurement: past the Ingress's upscale delay (30 s), so the sweep meets
# the replicas the load asks for, already started.
SETTLING_REQUESTS = 6000
GRAPHS = ("classify", "recommend")
IMAGES = [shape_png(SHAPE_LABELS[i % 4], seed=i) for i in range(64)]
SHIPPED_ENV = {"RAY_SERVE_ENABLE_HA_PROXY": "1", "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"}
DEFAULTS_ENV = {"RAY_SERVE_ENABLE_HA_PROXY": "0", "RAY_SERVE_THROUGHPUT_OPTIMIZED": "0"}


def on_serve_defaults(config: dict) -> dict:
    """The shipped config with every model a deployment of its own and the Ingress alone on its replica."""
    config = models_as_deployments(config)
    for deployment in config["applications"][0]["deployments"]:
        if deployment["name"] == "Ingress":
            deployment["ray_actor_options"]["num_cpus"] = 0.1
    return config


def json_caller(client: httpx.AsyncClient, graph: str):
    """The JSON route's caller of graphs_load, shared with its load runs."""
    return graph_callers(client)[graph]


def v2_inputs(module, graph: str, i: int, image_shape: list[int]) -> list:
    if graph == "classify":
        tensor = module.InferInput("IMAGE", image_shape, "BYTES")
        tensor.set_data_from_numpy(np.array([IMAGES[i % len(IMAGES)]], dtype=object).reshape(image_shape))
    else:
        tensor = module.InferInput("USER_ID", [1], "INT64")
        tensor.set_data_from_numpy(np.array([1 + i % 500], dtype=np.int64))
    return [tensor]


def v2_caller(module, client, graph: str, headers: dict, image_shape: list[int]):
    async def call(i: int) -> bool:
        result = await client.infer(graph, v2_inputs(module, graph, i, image_shape), headers=headers)
        return result.as_numpy("LABEL" if graph == "classify" else "ITEM_IDS") is not None

    return call


async def sweep(call) -> list[LoadResult]:
    await closed_loop(call, 4, 60)  # warm: connections, batch queues, caches
    return [await closed_loop(call, c, REQUESTS[c]) for c in CONCURRENCIES]


async def measure_platform(platform: LocalPlatform, clock: StageClock) -> dict:
    """Each graph over each protocol, after a settling load (the Ingress autoscales on it, and a replica
    starting mid-sweep would cost the sweep its CPU); the stage breakdown of the JSON route at c1 and c16."""
    key = platform.headers["Authorization"]
    results: dict[str, dict] = {}
    limits = httpx.Limits(max_connections=max(CONCURRENCIES))
    async with httpx.AsyncClient(base_url=platform.base_url, headers=platform.headers, timeout=60,
                                 limits=limits) as http:
        await closed_loop(json_caller(http, "classify"), max(CONCURRENCIES), SETTLING_REQUESTS)
        for graph in GRAPHS:
            await closed_loop(json_caller(http, graph), 4, 60)
            for concurrency in BREAKDOWN_AT:
                with clock.window(graph) as window:
                    run = await closed_loop(json_caller(http, graph), concurrency, REQUESTS[concurrency])
                results[f"{graph} breakdown c{concurrency}"] = {"client": run.mean_ms, **window.stages}
            results[f"{graph} HTTP JSON"] = [r.model_dump() for r in await sweep(json_caller(http, graph))]
    v2_http = httpclient.InferenceServerClient(platform.base_url.removeprefix("http://"), conn_limit=64)
    v2_grpc = grpcclient.InferenceServerClient(platform.grpc_url)
    try:
        for graph in GRAPHS:
            call = v2_caller(httpclient, v2_http, graph, {"Authorization": key}, [1])
            results[f"{graph} V2 HTTP"] = [r.model_dump() for r in await sweep(call)]
            call = v2_caller(grpcclient, v2_grpc, graph, {"authorization": key}, [1])
            results[f"{graph} V2 gRPC"] = [r.model_dump() for r in await sweep(call)]
    finally:
        await v2_http.close()
        await v2_grpc.close()
    return results


async def measure_triton(url: str) -> dict:
    """PyTriton's classify (DALI + ONNX Runtime, dynamic batching), same clients; IMAGE is [-1, 1] there."""
    host, port = url.rsplit(":", 1)
    v2_http = httpclient.InferenceServerClient(url, conn_limit=64)
    v2_grpc = grpcclient.InferenceServerClient(f"{host}:{int(port) + 1}")
    try:
        return {"classify V2 HTTP": [r.model_dump() for r in await sweep(
                    v2_caller(httpclient, v2_http, "classify", {}, [1, 1]))],
                "classify V2 gRPC": [r.model_dump() for r in await sweep(
                    v2_caller(grpcclient, v2_grpc, "classify", {}, [1, 1]))]}
    finally:
        await v2_http.close()
        await v2_grpc.close()


def plain_recommend_caller():
    """FeatureLookup and Ranker called directly in this process, one request at a time per thread."""
    layout = ArtifactLayout(root=PlatformSettings().artifacts_dir)
    lookup = FeatureLookup.func_or_class(str(layout.feature_repo))
    ranker = Ranker.func_or_class(str(layout.ranker))

    def recommend(user_id: int) -> list[dict]:
        return ranker.rank_alone(lookup._lookup(user_id), 10)

    async def call(i: int) -> bool:
        return len(await asyncio.to_thread(recommend, 1 + i % 500)) == 10

    return call


async def measure_plain() -> dict:
    return {"classify in-process": [r.model_dump() for r in await sweep(plain_process_caller())],
            "recommend in-process": [r.model_dump() for r in await sweep(plain_recommend_caller())]}


def run_platform(config: dict, env: dict[str, str], name: str) -> dict:
    os.environ.update(env)  # a fresh cluster: the raylet hands this environment to every Serve process
    path = Path(f"/tmp/serving_cost.{name}.yaml")
    path.write_text(yaml.safe_dump(config))
    with local_platform(path) as platform:
        return asyncio.run(measure_platform(platform, StageClock()))


def ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else float("nan")


def report(runs: dict[str, dict]) -> str:
    lines = ["# Serving cost: platform (shipped) vs platform on Serve's defaults vs Triton vs plain process", "",
             "Closed loop; clients in the benchmark process on the same 2 cores (httpx for the JSON route, "
             "tritonclient http.aio / grpc.aio for KServe V2). Auth, rate limits, request ids, access logs, metrics "
             "and graph policies are on in both platform runs. Triton (PyTriton) serves classify only.", "",
             markdown_table(["server", "graph, protocol", "c", "p50 ms", "p99 ms", "req/s", "errors"],
                            [[server, series, r["concurrency"], r["p50_ms"], r["p99_ms"], r["req_per_s"], r["errors"]]
                             for server, results in runs.items() for series, rows in results.items()
                             if isinstance(rows, list) for r in rows])]
    shipped, defaults, triton = runs["shipped"], runs["serve defaults"], runs.get("Triton", {})
    comparisons = [(f"shipped / Serve defaults, {s}", shipped[s], defaults[s]) for s in shipped if isinstance(shipped[s], list)]
    comparisons += [(f"shipped / Triton, {s}", shipped[s], triton[s]) for s in triton]
    plain = runs["plain process"]
    comparisons += [(f"shipped {g} HTTP JSON / plain process", shipped[f"{g} HTTP JSON"], plain[f"{g} in-process"])
                    for g in GRAPHS]
    lines += ["", "## Ratios at each concurrency (req/s ratio, p99 ratio)", "",
              markdown_table(["comparison", "c1", "c16", "c64"],
                             [[name, *(f"{ratio(o['req_per_s'], t['req_per_s'])} / {ratio(o['p99_ms'], t['p99_ms'])}"
                                       for o, t in zip(ours, theirs))] for name, ours, theirs in comparisons])]
    lines += ["", "## Goals (issue: p99 ≤ 50 ms at c16; req/s ≥ 0.5x Triton's at c16 and c64)", ""]
    for series in ("classify HTTP JSON", "classify V2 HTTP", "classify V2 gRPC", "recommend HTTP JSON",
                   "recommend V2 HTTP", "recommend V2 gRPC"):
        at16 = shipped[series][CONCURRENCIES.index(16)]
        line = f"- {series}: p99 at c16 {at16['p99_ms']} ms ({'met' if at16['p99_ms'] <= 50 else 'not met'})"
        if series in triton:
            ratios = [ratio(o["req_per_s"], t["req_per_s"]) for o, t in zip(shipped[series], triton[series])][1:]
            line += f"; req/s vs Triton at c16, c64: {ratios} ({'met' if min(ratios) >= 0.5 else 'not met'})"
        lines.append(line)
    lines += ["", "## Where a request's time goes (JSON route, mean ms per request)", "",
              "client: as the load generator saw it; `<deployment> processing`: Serve's processing time in that "
              "deployment's replicas (the Ingress's: gate, FastAPI, the graph); graph run: the runner; node: a "
              "stage's latency seen by the executor (a hop to another replica, its queue and batching included). "
              "A hop's cost is a node's latency less the called deployment's processing time.", "",
              markdown_table(["server", "graph", "c", "stages"],
                             [[server, graph, concurrency, ", ".join(
                                 f"{k} {v}" for k, v in runs[server][f"{graph} breakdown c{concurrency}"].items())]
                              for server in ("shipped", "serve defaults") for graph in GRAPHS
                              for concurrency in BREAKDOWN_AT])]
    return "\n".join(lines) + "\n"


def plot(runs: dict[str, dict]) -> None:
    with concurrency_figure(RESULTS / "serving_cost.png", "classify req/s", "recommend req/s") as axes:
        for axis, graph in zip(axes, GRAPHS):
            for server, results in runs.items():
                for series, rows in results.items():
                    if series.startswith(graph) and isinstance(rows, list):
                        axis.plot([r["concurrency"] for r in rows], [r["req_per_s"] for r in rows], marker="o",
                                  label=f"{server}: {series.removeprefix(graph).strip()}")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    shipped_config = yaml.safe_load((REPO_ROOT / "serve_config.yaml").read_text())
    runs = {"plain process": asyncio.run(measure_plain())}
    with running_triton(ArtifactLayout(root=PlatformSettings().artifacts_dir).vision) as url:
        runs["Triton"] = asyncio.run(measure_triton(url))
    runs["shipped"] = run_platform(shipped_config, SHIPPED_ENV, "shipped")
    runs["serve defaults"] = run_platform(on_serve_defaults(shipped_config), DEFAULTS_ENV, "defaults")
    text = report(runs)
    write_results("serving_cost", runs, text)
    plot(runs)
    logger.info(text)


if __name__ == "__main__":
    main()
