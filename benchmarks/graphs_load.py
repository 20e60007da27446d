"""`classify` and `recommend` through Serve HTTP under closed-loop load: p50/p99/req/s at c1, c16
and c64, the highest load whose p99 stays within 50 ms, and dynamic batching on vs off (the same
config redeployed live with max_batch_size 1). Writes benchmarks/results/graphs_load.{json,md,png}.

Run: `.venv/bin/python -m benchmarks.graphs_load`.
"""

import asyncio
import base64
import logging
from pathlib import Path

import httpx
import yaml

from benchmarks.plots import concurrency_figure
from serve_app.common.shapes import SHAPE_LABELS, shape_png
from serve_app.ops.local_cluster import LocalPlatform, admin_headers, deploy, local_platform
from testkit.loadgen import LoadResult, closed_loop
from testkit.results import RESULTS, markdown_table, write_results

logger = logging.getLogger("benchmarks")
SLO_MS = 50.0
CONCURRENCIES = (1, 2, 4, 8, 16, 32, 64)
REQUESTS = 300
BATCHED = ("DaliPreprocessor", "VisionClassifier")


def graph_callers(client: httpx.AsyncClient) -> dict:
    images = [{"image": base64.b64encode(shape_png(SHAPE_LABELS[i % 4], seed=i)).decode()} for i in range(64)]

    async def classify(i: int) -> bool:
        response = await client.post("/v1/graphs/classify", json=images[i % len(images)])
        return response.status_code == 200 and response.json()["label"] == SHAPE_LABELS[i % 4]

    async def recommend(i: int) -> bool:
        response = await client.post("/v1/graphs/recommend", json={"user_id": 1 + i % 500, "k": 10})
        return response.status_code == 200 and len(response.json()["items"]) == 10

    return {"classify": classify, "recommend": recommend}


async def sweep(base_url: str, graphs: tuple[str, ...]) -> dict[str, list[LoadResult]]:
    limits = httpx.Limits(max_connections=max(CONCURRENCIES))
    async with httpx.AsyncClient(base_url=base_url, headers=admin_headers(), timeout=60, limits=limits) as client:
        callers = graph_callers(client)
        results = {}
        for name in graphs:
            await closed_loop(callers[name], 4, 40)
            results[name] = [await closed_loop(callers[name], c, max(REQUESTS, 4 * c)) for c in CONCURRENCIES]
        return results


def redeploy_without_batching(platform: LocalPlatform) -> None:
    """Same config, max_batch_size 1 on the batched models: live for a deployment of its own (a user_config
    change), a redeploy of the Ingress for a hosted one."""
    path = platform.session_dir / "serve_config.yaml"
    config = yaml.safe_load(path.read_text())
    application = config["applications"][0]
    for name in BATCHED:
        hosted = application["args"]["models"][name]
        if hosted.get("placement") == "ingress":
            hosted["user_config"]["max_batch_size"] = 1
    for deployment in application["deployments"]:
        if deployment["name"] in BATCHED:
            deployment["user_config"]["max_batch_size"] = 1
    unbatched = path.with_name("serve_config.unbatched.yaml")
    unbatched.write_text(yaml.safe_dump(config))
    deploy(platform, unbatched)


def within_slo(rows: list[LoadResult]) -> LoadResult | None:
    passing = [row for row in rows if row.p99_ms <= SLO_MS and not row.errors]
    return max(passing, key=lambda row: row.req_per_s, default=None)


def report(results: dict[str, list[LoadResult]]) -> str:
    lines = [markdown_table(["run", "concurrency", "p50 ms", "p99 ms", "req/s", "errors"],
                            [[name, r.concurrency, r.p50_ms, r.p99_ms, r.req_per_s, r.errors]
                             for name, rows in results.items() for r in rows])]
    lines += ["", f"Highest load with p99 ≤ {SLO_MS:.0f} ms:", ""]
    for name, rows in results.items():
        best = within_slo(rows)
        lines.append(f"- {name}: " + (f"c{best.concurrency}, {best.req_per_s} req/s, p99 {best.p99_ms} ms"
                                      if best else "none of the measured loads"))
    batched, unbatched = results["classify"], results["classify (no batching)"]
    lines += ["", "Dynamic batching, classify, on / off:", "",
              markdown_table(["concurrency", "req/s ratio", "p99 ratio"],
                             [[on.concurrency, f"{on.req_per_s / off.req_per_s:.2f}", f"{on.p99_ms / off.p99_ms:.2f}"]
                              for on, off in zip(batched, unbatched)])]
    return "\n".join(lines)


def plot(results: dict[str, list[LoadResult]], path: Path) -> None:
    with concurrency_figure(path, "p99 latency (ms)", "throughput (req/s)") as (latency, throughput):
        for name, rows in results.items():
            concurrency = [r.concurrency for r in rows]
            latency.plot(concurrency, [r.p99_ms for r in rows], marker="o", label=name)
            throughput.plot(concurrency, [r.req_per_s for r in rows], marker="o", label=name)
        latency.axhline(SLO_MS, color="grey", linestyle="--", label=f"{SLO_MS:.0f} ms SLO")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with local_platform() as platform:
        results = asyncio.run(sweep(platform.base_url, ("classify", "recommend")))
        redeploy_without_batching(platform)
        results["classify (no batching)"] = asyncio.run(sweep(platform.base_url, ("classify",)))["classify"]
    text = f"# Graphs under load through Serve HTTP (closed loop, this machine)\n\n{report(results)}\n"
    write_results("graphs_load", {name: [r.model_dump() for r in rows] for name, rows in results.items()}, text)
    plot(results, RESULTS / "graphs_load.png")
    logger.info(text)


if __name__ == "__main__":
    main()
