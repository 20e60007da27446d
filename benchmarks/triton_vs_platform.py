"""The same preprocessing + ONNX model behind two KServe V2 HTTP servers, called by the same client
(`tritonclient.http.aio`, binary tensors): the platform's `classify` model through Ray Serve vs a
reference Triton server (PyTriton) running the platform's DALI pipeline and ONNX model.
Writes benchmarks/results/triton_vs_platform.{json,md}.

Run: `.venv/bin/python -m benchmarks.triton_vs_platform` (needs `make triton-setup`).
"""

import asyncio
import logging

import numpy as np
import tritonclient.http.aio as triton

from serve_app.artifacts import ArtifactLayout
from serve_app.common.settings import PlatformSettings
from serve_app.common.shapes import SHAPE_LABELS, shape_png
from serve_app.ops.local_cluster import admin_headers, local_platform
from testkit.loadgen import LoadResult, closed_loop
from testkit.results import markdown_table, write_results
from testkit.triton_reference import running_triton

logger = logging.getLogger("benchmarks")
CONCURRENCIES = (1, 16, 64)
REQUESTS = 400
HEADERS = admin_headers()  # the platform's key; PyTriton ignores it
IMAGES = [shape_png(SHAPE_LABELS[i % 4], seed=i) for i in range(64)]


async def sweep(url: str, image_shape: list[int]) -> list[LoadResult]:
    """`image_shape` is [1] for the platform (IMAGE [-1]) and [1, 1] for PyTriton (IMAGE [-1, 1])."""
    client = triton.InferenceServerClient(url, conn_limit=max(CONCURRENCIES))
    try:
        async def call(i: int) -> bool:
            tensor = triton.InferInput("IMAGE", image_shape, "BYTES")
            tensor.set_data_from_numpy(np.array([IMAGES[i % len(IMAGES)]], dtype=object).reshape(image_shape))
            result = await client.infer("classify", [tensor], headers=HEADERS)
            return result.as_numpy("LABEL").ravel()[0].decode() == SHAPE_LABELS[i % 4]

        await closed_loop(call, 4, 40)
        return [await closed_loop(call, c, max(REQUESTS, 4 * c)) for c in CONCURRENCIES]
    finally:
        await client.close()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with running_triton(ArtifactLayout(root=PlatformSettings().artifacts_dir).vision) as url:
        reference = asyncio.run(sweep(url, [1, 1]))
    with local_platform() as platform:
        ours = asyncio.run(sweep(platform.base_url.removeprefix("http://"), [1]))
    rows = [{"concurrency": t.concurrency, "triton": t.model_dump(), "platform": p.model_dump(),
             "req_per_s_ratio": round(p.req_per_s / t.req_per_s, 2), "p99_ratio": round(p.p99_ms / t.p99_ms, 2)}
            for t, p in zip(reference, ours)]
    measured = ("p50_ms", "p99_ms", "req_per_s")
    table = markdown_table(
        ["concurrency", "Triton p50 ms", "Triton p99 ms", "Triton req/s", "platform p50 ms", "platform p99 ms",
         "platform req/s", "req/s ratio", "p99 ratio"],
        [[r["concurrency"], *(r["triton"][key] for key in measured), *(r["platform"][key] for key in measured),
          r["req_per_s_ratio"], r["p99_ratio"]] for r in rows])
    text = ("# classify over KServe V2 HTTP: platform (Ray Serve) vs Triton (PyTriton), same client\n\n"
            "Ratios are platform / Triton. Both use DALI CPU + ONNX Runtime (1 thread), batches ≤ 16, 2 ms wait.\n\n"
            f"{table}\n")
    write_results("triton_vs_platform", rows, text)
    logger.info(text)


if __name__ == "__main__":
    main()
