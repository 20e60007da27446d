"""The `classify` graph through Serve HTTP vs the same DALI preprocessing + ONNX model called in one
plain process, at concurrency 1 and 16. Writes benchmarks/results/classify_vs_plain.{json,md}.

Run: `make bench` (or `.venv/bin/python -m benchmarks.classify_vs_plain`).
"""

import asyncio
import base64
import logging
import threading

import httpx
import numpy as np

from deployments.dali_preprocessor import DaliPreprocessor
from deployments.vision_classifier import VisionClassifier
from serve_app.artifacts import ArtifactLayout
from serve_app.common.settings import PlatformSettings
from serve_app.common.shapes import SHAPE_LABELS, shape_png
from serve_app.ops.local_cluster import admin_headers, local_platform
from testkit.loadgen import LoadResult, closed_loop
from testkit.results import markdown_table, write_results

logger = logging.getLogger("benchmarks")
CONCURRENCIES = (1, 16)
REQUESTS = 400
IMAGES = [shape_png(SHAPE_LABELS[i % len(SHAPE_LABELS)], seed=i) for i in range(64)]


def plain_process_caller():
    """The same preprocessing and model, in this process, one request at a time (DALI is not thread-safe)."""
    vision_dir = str(ArtifactLayout(root=PlatformSettings().artifacts_dir).vision)
    preprocessor = DaliPreprocessor.func_or_class(vision_dir)
    classifier = VisionClassifier.func_or_class(vision_dir)
    lock = threading.Lock()

    def classify(image: bytes) -> dict:
        with lock:
            (tensor,) = preprocessor._decode_each([image])
            return classifier._infer(tensor[np.newaxis])[0]

    async def call(i: int) -> bool:
        answer = await asyncio.to_thread(classify, IMAGES[i % len(IMAGES)])
        return answer["label"] == SHAPE_LABELS[i % len(SHAPE_LABELS)]

    return call


def serve_http_caller(client: httpx.AsyncClient):
    bodies = [{"image": base64.b64encode(image).decode()} for image in IMAGES]

    async def call(i: int) -> bool:
        response = await client.post("/v1/graphs/classify", json=bodies[i % len(bodies)])
        return response.status_code == 200 and response.json()["label"] == SHAPE_LABELS[i % len(SHAPE_LABELS)]

    return call


async def measure(call, warmup: int = 20) -> list[LoadResult]:
    await closed_loop(call, 4, warmup)
    return [await closed_loop(call, c, REQUESTS) for c in CONCURRENCIES]


async def run_serve(base_url: str) -> list[LoadResult]:
    limits = httpx.Limits(max_connections=max(CONCURRENCIES))
    async with httpx.AsyncClient(base_url=base_url, headers=admin_headers(), timeout=60, limits=limits) as client:
        return await measure(serve_http_caller(client))


def table(rows: list[dict]) -> str:
    measured = ("p50_ms", "p99_ms", "req_per_s")
    return markdown_table(
        ["concurrency", "plain p50 ms", "plain p99 ms", "plain req/s", "serve p50 ms", "serve p99 ms", "serve req/s",
         "p50 ratio", "p99 ratio", "req/s ratio"],
        [[row["concurrency"], *(row["plain"][key] for key in measured), *(row["serve"][key] for key in measured),
          row["p50_ratio"], row["p99_ratio"], row["req_per_s_ratio"]] for row in rows])


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    plain = asyncio.run(measure(plain_process_caller()))
    with local_platform() as platform:
        served = asyncio.run(run_serve(platform.base_url))
    rows = [{"concurrency": p.concurrency, "plain": p.model_dump(), "serve": s.model_dump(),
             "p50_ratio": round(s.p50_ms / p.p50_ms, 2), "p99_ratio": round(s.p99_ms / p.p99_ms, 2),
             "req_per_s_ratio": round(s.req_per_s / p.req_per_s, 2)} for p, s in zip(plain, served)]
    report = ("# classify: Serve HTTP vs plain process (ratios are serve / plain)\n\n"
              f"{REQUESTS} requests per row, closed loop, same machine, same images.\n\n{table(rows)}\n")
    write_results("classify_vs_plain", rows, report)
    logger.info(report)


if __name__ == "__main__":
    main()
