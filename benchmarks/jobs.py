"""The job API against the same work done synchronously, in one run on one platform:

- accept rate: `POST /v1/jobs/recommend` (202) at c16 vs `POST /v1/graphs/recommend` (the answer) at c16;
- end-to-end latency: submit + `GET ?wait=` until SUCCEEDED vs the synchronous call, c1 and c4;
- tier wait under a backlog of LLM jobs submitted high/normal/low in turn: queue wait p50/p99 per tier;
- scale from zero: the consumer scaled down to no replica, then one job: time until it starts and ends.

Client: httpx.AsyncClient in the benchmark process, on the same 2 cores as the platform.
Writes benchmarks/results/jobs.{json,md,png}. Run: `.venv/bin/python -m benchmarks.jobs`.
"""

import asyncio
import statistics
import time
import uuid

import httpx

from serve_app.ops.local_cluster import admin_headers, app_status, local_platform
from testkit.loadgen import LoadResult, closed_loop, percentile
from testkit.polling import NotYet, eventually
from testkit.results import RESULTS, markdown_table, write_results

BODY = {"user_id": 7, "k": 10}
ROUNDS, LATENCY_REQUESTS, ACCEPT_REQUESTS = 2, 60, 400
BACKLOG, LLM_JOB = 48, {"prompt": "Review Seoul Garden.", "model": "tiny-llama", "max_tokens": 48, "ignore_eos": True}


async def finished(http: httpx.AsyncClient, job_id: str, wait_s: float = 300) -> dict:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        job = (await http.get(f"/v1/jobs/{job_id}", params={"wait": 20})).json()
        if job["status"] not in ("QUEUED", "RUNNING"):
            return job
    raise TimeoutError(job_id)


async def latency(http: httpx.AsyncClient) -> list[dict]:
    async def synchronous(_: int) -> bool:
        return (await http.post("/v1/graphs/recommend", json=BODY)).status_code == 200

    async def as_job(_: int) -> bool:
        accepted = await http.post("/v1/jobs/recommend", json=BODY)
        return (await finished(http, accepted.json()["requestId"]))["status"] == "SUCCEEDED"

    rows = []
    for concurrency in (1, 4):
        runs: dict[str, list[LoadResult]] = {"sync": [], "job": []}
        for _ in range(ROUNDS):  # alternating, so drift hits both
            runs["sync"].append(await closed_loop(synchronous, concurrency, LATENCY_REQUESTS))
            runs["job"].append(await closed_loop(as_job, concurrency, LATENCY_REQUESTS))
        row = {"concurrency": concurrency}
        for name, results in runs.items():
            row[name] = {key: round(statistics.median(getattr(r, key) for r in results), 2)
                         for key in ("p50_ms", "p99_ms", "req_per_s")} | {"errors": sum(r.errors for r in results)}
        row["p50_ratio"] = round(row["job"]["p50_ms"] / row["sync"]["p50_ms"], 2)
        row["p99_ratio"] = round(row["job"]["p99_ms"] / row["sync"]["p99_ms"], 2)
        row["added_p50_ms"] = round(row["job"]["p50_ms"] - row["sync"]["p50_ms"], 1)
        rows.append(row)
    return rows


async def accept_rate(http: httpx.AsyncClient) -> dict:
    async def submit(_: int) -> bool:
        return (await http.post("/v1/jobs/recommend", json=BODY)).status_code == 202

    async def synchronous(_: int) -> bool:
        return (await http.post("/v1/graphs/recommend", json=BODY)).status_code == 200

    accepted = await closed_loop(submit, 16, ACCEPT_REQUESTS)
    answered = await closed_loop(synchronous, 16, ACCEPT_REQUESTS)
    return {"accept": accepted.model_dump(), "sync": answered.model_dump(),
            "ratio": round(accepted.req_per_s / answered.req_per_s, 2)}


async def drain(http: httpx.AsyncClient) -> None:
    """Until the queue is empty and nothing runs, so one measurement's jobs do not slow the next."""
    probe = (await http.post("/v1/jobs/recommend", json=BODY, headers={"X-Priority": "low"})).json()["requestId"]
    await finished(http, probe, wait_s=900)


async def tier_waits(http: httpx.AsyncClient) -> dict:
    tiers = ("high", "normal", "low")
    ids = {tier: [] for tier in tiers}
    for i in range(BACKLOG):
        tier = tiers[i % 3]
        response = await http.post("/v1/inference", json=LLM_JOB, headers={"X-Priority": tier})
        ids[tier].append(response.json()["requestId"])
    waits = {}
    for tier, job_ids in ids.items():
        jobs = [await finished(http, job_id) for job_id in job_ids]
        seconds = sorted(job["startedAt"] - job["queuedAt"] for job in jobs)
        waits[tier] = {"jobs": len(jobs), "succeeded": sum(j["status"] == "SUCCEEDED" for j in jobs),
                       "p50_s": round(statistics.median(seconds), 2), "p99_s": round(percentile(seconds, 0.99), 2)}
    return waits


async def scale_from_zero(http: httpx.AsyncClient, dashboard_url: str) -> dict:
    def no_consumer() -> bool:
        return not app_status(dashboard_url)["deployments"]["JobConsumer"]["replica_states"].get("RUNNING", 0)

    try:
        await asyncio.to_thread(eventually, no_consumer, 600, 2, "JobConsumer scaled to zero")
    except NotYet:
        return {"error": "the consumer did not scale to zero in 10 minutes"}
    started = time.perf_counter()
    job_id = f"cold-{uuid.uuid4().hex[:8]}"
    await http.post("/v1/jobs/recommend", json=BODY, headers={"X-Request-Id": job_id})
    job = await finished(http, job_id)
    return {"status": job["status"], "to_start_s": round(job["startedAt"] - job["queuedAt"], 2),
            "to_answer_s": round(time.perf_counter() - started, 2)}


async def measure(base_url: str, dashboard_url: str) -> dict:
    async with httpx.AsyncClient(base_url=base_url, headers=admin_headers(), timeout=120, limits=httpx.Limits(max_connections=32)) as http:
        assert (await http.post("/v1/graphs/recommend", json=BODY)).status_code == 200
        await drain(http)
        results = {"latency": await latency(http)}
        await drain(http)
        results["accept_c16"] = await accept_rate(http)
        await drain(http)
        results["tier_wait"] = await tier_waits(http)
        results["scale_from_zero"] = await scale_from_zero(http, dashboard_url)
    return results


def report(results: dict) -> str:
    accept = results["accept_c16"]
    lines = ["# Jobs vs synchronous calls (recommend graph; LLM jobs for tiers; this machine, 2 cores)", "",
             "## Accept rate at c16", "",
             markdown_table(["", "req/s", "p50 ms", "p99 ms", "errors"],
                            [[name, r["req_per_s"], r["p50_ms"], r["p99_ms"], r["errors"]]
                             for name, r in (("POST /v1/jobs/recommend (202)", accept["accept"]),
                                             ("POST /v1/graphs/recommend (answer)", accept["sync"]))]),
             "", f"Accepted per second ÷ answered per second: {accept['ratio']}", "",
             f"## End to end: submit + GET ?wait= until SUCCEEDED vs synchronous (median of {ROUNDS} rounds)", "",
             markdown_table(["c", "sync p50/p99 ms", "job p50/p99 ms", "p50 ratio", "p99 ratio", "added p50 ms"],
                            [[row["concurrency"], f"{row['sync']['p50_ms']}/{row['sync']['p99_ms']}",
                              f"{row['job']['p50_ms']}/{row['job']['p99_ms']}", row["p50_ratio"], row["p99_ratio"],
                              row["added_p50_ms"]] for row in results["latency"]]),
             "", f"## Queue wait by tier: {BACKLOG} LLM jobs (48 tokens) submitted high/normal/low in turn", "",
             markdown_table(["tier", "jobs", "succeeded", "wait p50 s", "wait p99 s"],
                            [[tier, wait["jobs"], wait["succeeded"], wait["p50_s"], wait["p99_s"]]
                             for tier, wait in results["tier_wait"].items()]),
             "", "## Scale from zero", "", f"{results['scale_from_zero']}", ""]
    return "\n".join(lines)


def plot(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, (waits, ends) = pyplot.subplots(1, 2, figsize=(11, 4))
    tiers = list(results["tier_wait"])
    for offset, key in ((-0.2, "p50_s"), (0.2, "p99_s")):
        waits.bar([i + offset for i in range(len(tiers))], [results["tier_wait"][t][key] for t in tiers], 0.4,
                  label=key.removesuffix("_s"))
    waits.set_xticks(range(len(tiers)), tiers)
    waits.set_ylabel("queue wait (s)")
    waits.set_title("Queue wait by tier under a backlog")
    waits.legend()
    rows = results["latency"]
    for offset, name in ((-0.2, "sync"), (0.2, "job")):
        ends.bar([i + offset for i in range(len(rows))], [row[name]["p50_ms"] for row in rows], 0.4, label=name)
    ends.set_xticks(range(len(rows)), [f"c{row['concurrency']}" for row in rows])
    ends.set_ylabel("p50 latency (ms)")
    ends.set_title("recommend: synchronous vs as a job")
    ends.legend()
    figure.tight_layout()
    figure.savefig(RESULTS / "jobs.png", dpi=100)
    pyplot.close(figure)


def main() -> None:
    with local_platform() as platform:
        results = asyncio.run(measure(platform.base_url, platform.dashboard_url))
    write_results("jobs", results, report(results))
    plot(results)
    print(report(results))


if __name__ == "__main__":
    main()
