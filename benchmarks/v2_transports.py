"""KServe V2 over HTTP (binary tensors) vs over gRPC (raw contents), same platform, same models, one run:
`classify` (one PNG per request) and `recommend` (one user id) at c1/c16/c64.

Client: tritonclient.http.aio and tritonclient.grpc.aio in the benchmark process, on the same 2 cores.
Writes benchmarks/results/v2_transports.{json,md}. Run: `.venv/bin/python -m benchmarks.v2_transports`.
"""

import asyncio

import numpy as np
import tritonclient.grpc.aio as grpcclient
import tritonclient.http.aio as httpclient

from serve_app.common.shapes import SHAPE_LABELS, shape_png
from serve_app.ops.local_cluster import LocalPlatform, local_platform
from testkit.loadgen import LoadResult, closed_loop
from testkit.results import markdown_table, write_results

CONCURRENCIES, REQUESTS = (1, 16, 64), 400
IMAGES = [shape_png(SHAPE_LABELS[i % 4], seed=i) for i in range(64)]


def inputs(module, model: str, i: int) -> list:
    if model == "classify":
        tensor = module.InferInput("IMAGE", [1], "BYTES")
        tensor.set_data_from_numpy(np.array([IMAGES[i % len(IMAGES)]], dtype=object))
    else:
        tensor = module.InferInput("USER_ID", [1], "INT64")
        tensor.set_data_from_numpy(np.array([i % 500], dtype=np.int64))
    return [tensor]


async def sweep(platform: LocalPlatform, transport: str, model: str) -> list[LoadResult]:
    if transport == "http":
        module, client = httpclient, httpclient.InferenceServerClient(platform.base_url.removeprefix("http://"),
                                                                      conn_limit=max(CONCURRENCIES))
        headers = platform.headers
    else:
        module, client = grpcclient, grpcclient.InferenceServerClient(platform.grpc_url)
        headers = {"authorization": platform.headers["Authorization"]}
    try:
        async def call(i: int) -> bool:
            result = await client.infer(model, inputs(module, model, i), headers=headers)
            return result.as_numpy("LABEL" if model == "classify" else "ITEM_IDS") is not None

        await closed_loop(call, 4, 40)  # warm
        return [await closed_loop(call, c, max(REQUESTS, 4 * c)) for c in CONCURRENCIES]
    finally:
        await client.close()


def main() -> None:
    rows = []
    with local_platform() as platform:
        for model in ("classify", "recommend"):
            http = asyncio.run(sweep(platform, "http", model))
            grpc = asyncio.run(sweep(platform, "grpc", model))
            rows += [{"model": model, "concurrency": h.concurrency, "http": h.model_dump(), "grpc": g.model_dump(),
                      "req_per_s_ratio": round(g.req_per_s / h.req_per_s, 2), "p99_ratio": round(g.p99_ms / h.p99_ms, 2)}
                     for h, g in zip(http, grpc)]
    lines = ["# KServe V2 over HTTP vs gRPC, same platform", "",
             "Ratios are gRPC / HTTP. Clients: tritonclient.http.aio (binary tensors) and tritonclient.grpc.aio, "
             "same 2 cores.", "",
             markdown_table(["model", "concurrency", "HTTP p50 / p99 ms", "HTTP req/s", "gRPC p50 / p99 ms",
                             "gRPC req/s", "req/s ratio", "p99 ratio"],
                            [[r["model"], r["concurrency"], f"{r['http']['p50_ms']} / {r['http']['p99_ms']}",
                              r["http"]["req_per_s"], f"{r['grpc']['p50_ms']} / {r['grpc']['p99_ms']}",
                              r["grpc"]["req_per_s"], r["req_per_s_ratio"], r["p99_ratio"]] for r in rows])]
    write_results("v2_transports", rows, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
