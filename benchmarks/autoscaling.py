"""Autoscaling shown: a step load (idle, heavy, idle) on classify and on the job queue. The Ingress (which
hosts the vision models) scales on its ongoing requests, JobConsumer on the queue's length (down to zero).
Replicas are sampled from Serve's controller every 0.5 s and latency is kept per request. The result is
the time to scale up and back down, with a plot. The baseline is the same step with the Ingress pinned to
one replica: its latency during the heavy phase, next to the autoscaled one's.

Client: httpx threads on the same 2 cores (HEAVY_CLIENTS classify callers), so the numbers are what this
machine can show, not what more cores would.
`python -m benchmarks.autoscaling` writes benchmarks/results/autoscaling.{json,md,png}."""

import base64
import contextlib
import threading
import time
import uuid

import httpx
from ray import serve
from ray.serve.schema import ReplicaState

from serve_app.common.settings import APP_NAME
from serve_app.common.shapes import shape_png
from serve_app.ops.local_cluster import LocalPlatform, local_platform
from testkit.loadgen import percentile
from testkit.platform import reconfigured
from testkit.polling import NotYet, eventually
from testkit.results import RESULTS, markdown_table, write_results

HEAVY_CLIENTS, HEAVY_S, IDLE_S, SETTLE_MAX_S = 64, 60, 10, 150
JOBS = 40
IMAGE = {"image": base64.b64encode(shape_png("circle", 1)).decode()}
PINNED = {"Ingress": {"autoscaling_config": {"min_replicas": 1, "max_replicas": 1, "target_ongoing_requests": 32}}}


def running_replicas() -> dict[str, int]:
    deployments = serve.status().applications[APP_NAME].deployments
    return {name: d.replica_states.get(ReplicaState.RUNNING, 0) for name, d in deployments.items()}


def _classify_callers(platform: LocalPlatform, stop: threading.Event, latencies: list) -> None:
    with httpx.Client(base_url=platform.base_url, headers=platform.headers, timeout=60) as http:
        while not stop.is_set():
            started = time.monotonic()
            ok = http.post("/v1/graphs/classify", json=IMAGE).status_code == 200
            latencies.append((started, time.monotonic() - started, ok))


def step(platform: LocalPlatform) -> dict:
    """One idle, heavy, idle step; replicas over time, latencies, and the times to scale."""
    samples, latencies, stop_load, stop_sampling = [], [], threading.Event(), threading.Event()
    began = time.monotonic()

    def sample() -> None:
        while not stop_sampling.is_set():
            replicas = running_replicas()
            samples.append((round(time.monotonic() - began, 1), replicas.get("Ingress", 0),
                            replicas.get("JobConsumer", 0)))
            time.sleep(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    time.sleep(IDLE_S)
    heavy_at = time.monotonic() - began
    callers = [threading.Thread(target=_classify_callers, args=(platform, stop_load, latencies), daemon=True)
               for _ in range(HEAVY_CLIENTS)]
    for caller in callers:
        caller.start()
    with httpx.Client(base_url=platform.base_url, headers=platform.headers, timeout=60) as http:
        for _ in range(JOBS):
            http.post("/v1/inference", json={"prompt": "Review Seoul Garden.", "model": "tiny-llama", "max_tokens": 16},
                      headers={"X-Request-Id": f"scale-{uuid.uuid4().hex[:10]}"})
    time.sleep(max(0.0, heavy_at + HEAVY_S - (time.monotonic() - began)))
    stop_load.set()
    for caller in callers:
        caller.join(60)
    idle_at = time.monotonic() - began
    with contextlib.suppress(NotYet):  # not settled within SETTLE_MAX_S: the run reports what it saw
        eventually(lambda: samples[-1][1:] == (1, 0), SETTLE_MAX_S, 1, "one Ingress and no JobConsumer")
    stop_sampling.set()
    sampler.join(5)
    heavy = sorted(seconds * 1000 for started, seconds, ok in latencies if ok)
    return {"samples": samples, "heavy_at_s": round(heavy_at, 1), "idle_at_s": round(idle_at, 1),
            "ingress_up_after_s": _first(samples, heavy_at, lambda s: s[1] >= 2),
            "ingress_down_after_s": _first(samples, idle_at, lambda s: s[1] == 1),
            "consumer_up_after_s": _first(samples, heavy_at, lambda s: s[2] >= 1),
            "consumers_max": max(s[2] for s in samples),
            "consumer_zero_after_s": _first(samples, idle_at, lambda s: s[2] == 0),
            "heavy_requests": len(latencies), "heavy_failed": sum(not ok for *_, ok in latencies),
            "heavy_req_per_s": round(len(heavy) / HEAVY_S, 1),
            "heavy_p50_ms": round(percentile(heavy, 0.5), 1), "heavy_p99_ms": round(percentile(heavy, 0.99), 1),
            "latency_by_second": _by_second(latencies, began)}


def _first(samples: list, after_s: float, condition) -> float | None:
    """Seconds after `after_s` until a sample first meets the condition (None: never within the run)."""
    return next((round(s[0] - after_s, 1) for s in samples if s[0] >= after_s and condition(s)), None)


def _by_second(latencies: list, began: float) -> list[tuple[int, float]]:
    seconds: dict[int, list[float]] = {}
    for started, took, ok in latencies:
        seconds.setdefault(int(started - began), []).append(took * 1000)
    return [(second, round(percentile(sorted(values), 0.5), 1)) for second, values in sorted(seconds.items())]


def plot(runs: dict[str, dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, (replicas, latency) = pyplot.subplots(1, 2, figsize=(11, 4))
    scaled = runs["autoscaled"]
    times = [s[0] for s in scaled["samples"]]
    replicas.step(times, [s[1] for s in scaled["samples"]], where="post", label="Ingress")
    replicas.step(times, [s[2] for s in scaled["samples"]], where="post", label="JobConsumer")
    for axis in (replicas, latency):
        axis.axvspan(scaled["heavy_at_s"], scaled["idle_at_s"], alpha=0.1, label="heavy load")
        axis.set_xlabel("seconds")
    replicas.set_title("running replicas")
    for name, run in runs.items():
        latency.plot(*zip(*run["latency_by_second"]), label=f"classify p50, {name}")
    latency.set_title("classify latency (ms, p50 per second)")
    replicas.legend()
    latency.legend()
    figure.tight_layout()
    figure.savefig(RESULTS / "autoscaling.png", dpi=100)
    pyplot.close(figure)


def main() -> None:
    with local_platform() as platform:
        runs = {"autoscaled": step(platform)}
        with reconfigured(platform, PINNED):
            runs["one Ingress replica"] = step(platform)
    plot(runs)
    scaled, pinned = runs["autoscaled"], runs["one Ingress replica"]
    table = markdown_table(
        ["run", "Ingress 1→2", "Ingress 2→1", "JobConsumer 0→1", "consumers max", "JobConsumer →0", "req/s",
         "p50 ms", "p99 ms", "failed"],
        [[name, *(run[key] for key in ("ingress_up_after_s", "ingress_down_after_s", "consumer_up_after_s",
                                       "consumers_max", "consumer_zero_after_s", "heavy_req_per_s", "heavy_p50_ms",
                                       "heavy_p99_ms", "heavy_failed"))] for name, run in runs.items()])
    ratio = round(scaled["heavy_req_per_s"] / pinned["heavy_req_per_s"], 2) if pinned["heavy_req_per_s"] else None
    text = (f"# Autoscaling: idle {IDLE_S} s, {HEAVY_CLIENTS} classify callers and {JOBS} jobs for {HEAVY_S} s, idle\n\n"
            "Seconds after the load starts (up) or stops (down); httpx threads on the same 2 cores.\n\n"
            + table + f"\n\nreq/s autoscaled / pinned: {ratio}\n\n![replicas and latency](autoscaling.png)\n")
    print(text)
    write_results("autoscaling", runs, text)


if __name__ == "__main__":
    main()
