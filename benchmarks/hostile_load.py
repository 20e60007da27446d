"""What hostile clients cost everyone else, and what the gate costs every request, in one run on one
platform:

- recommend at c4 alone vs beside 150 clients trickling their bodies (1 byte/s until the 10 s body
  deadline answers them 408);
- recommend at c4 alone vs beside a stream of 1 MiB chat messages (linear masking, off the event loop);
- recommend at c4 through the gate (API key checked, rate limits counted in Redis) vs the same
  Ingress redeployed with PLATFORM_AUTH=off and rate limits disabled.

Client: httpx.AsyncClient in the benchmark process, on the same 2 cores as the platform.
Writes benchmarks/results/hostile_load.{json,md}. Run: `.venv/bin/python -m benchmarks.hostile_load`.
"""

import asyncio

import httpx

from serve_app.ops.local_cluster import LocalPlatform, local_platform
from testkit.loadgen import LoadResult, closed_loop
from testkit.platform import reconfigured, user_config_change
from testkit.results import markdown_table, write_results

BODY = {"user_id": 7, "k": 10}
CONCURRENCY, REQUESTS, TRICKLERS = 4, 600, 150
LONG_CHAT = {"model": "tiny-llama", "max_tokens": 1, "messages": [{"role": "user", "content": "a" * 1_000_000}]}


async def recommend(platform: LocalPlatform, headers: dict) -> LoadResult:
    async with httpx.AsyncClient(base_url=platform.base_url, headers=headers, timeout=60) as http:
        async def call(_: int) -> bool:
            return (await http.post("/v1/graphs/recommend", json=BODY)).status_code == 200
        await closed_loop(call, CONCURRENCY, 40)  # warm
        return await closed_loop(call, CONCURRENCY, REQUESTS)


async def trickle(platform: LocalPlatform, stop: asyncio.Event) -> None:
    host, port = platform.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"POST /v1/graphs/recommend HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {platform.api_key}\r\n"
                 "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n".encode())
    while not stop.is_set():
        writer.write(b" ")
        await writer.drain()
        await asyncio.sleep(1)
    writer.close()


async def beside(platform: LocalPlatform, hostile) -> LoadResult:
    stop = asyncio.Event()
    tasks = await hostile(stop)
    await asyncio.sleep(1)
    try:
        return await recommend(platform, platform.headers)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


async def tricklers(platform: LocalPlatform):
    async def start(stop):
        return [asyncio.create_task(trickle(platform, stop)) for _ in range(TRICKLERS)]
    return await beside(platform, start)


async def long_chats(platform: LocalPlatform):
    async def start(stop):
        async def sender():
            async with httpx.AsyncClient(base_url=platform.base_url, headers=platform.headers, timeout=60) as http:
                while not stop.is_set():
                    await http.post("/v1/chat/completions", json=LONG_CHAT)
        return [asyncio.create_task(sender())]
    return await beside(platform, start)


def row(name: str, baseline: LoadResult, measured: LoadResult) -> dict:
    return {"case": name, "baseline": baseline.model_dump(), "measured": measured.model_dump(),
            "p50_ratio": round(measured.p50_ms / baseline.p50_ms, 2), "p99_ratio": round(measured.p99_ms / baseline.p99_ms, 2),
            "req_per_s_ratio": round(measured.req_per_s / baseline.req_per_s, 2)}


def report(rows: list[dict]) -> str:
    def p50_p99(result: dict) -> str:
        return f"{result['p50_ms']:.1f} / {result['p99_ms']:.1f}"

    table = markdown_table(
        ["case", "baseline p50 / p99 ms", "measured p50 / p99 ms", "p50 ratio", "p99 ratio", "req/s ratio"],
        [[r["case"], p50_p99(r["baseline"]), p50_p99(r["measured"]), r["p50_ratio"], r["p99_ratio"],
          r["req_per_s_ratio"]] for r in rows])
    return ("# Hostile clients beside recommend (c4), and the gate's own cost\n\n"
            "Baseline: recommend at c4 alone (for the gate row: with PLATFORM_AUTH=off and no rate limits). "
            f"Client: httpx.AsyncClient, same 2 cores.\n\n{table}")


def main() -> None:
    with local_platform() as platform:
        alone = asyncio.run(recommend(platform, platform.headers))
        rows = [row("150 trickling clients beside", alone, asyncio.run(tricklers(platform))),
                row("1 MiB chat messages beside", alone, asyncio.run(long_chats(platform)))]
        ingress = {**user_config_change(security={"rate_limits": {"enabled": False}}),
                   "ray_actor_options": {"num_cpus": 0.1, "runtime_env": {"env_vars": {"PLATFORM_AUTH": "off"}}}}
        with reconfigured(platform, {"Ingress": ingress}):
            open_ingress = asyncio.run(recommend(platform, {}))
        rows.append(row("gate on (key + Redis rate limits) vs off", open_ingress, alone))
    text = report(rows)
    write_results("hostile_load", rows, text + "\n")
    print(text)


if __name__ == "__main__":
    main()
