"""Faults under a steady load: a c8 mix of classify, recommend and chat runs while one fault strikes (SIGKILL
of the LLM replica, of the Serve controller, of the Ingress replica (the HTTP entry behind HAProxy, with
its hosted vision and RecSys models), Redis down for 10 s). Per fault: requests failed by kind and status,
the slowest failure, the time until every request succeeds again, and jobs lost (submitted just before the
fault; every one must end SUCCEEDED).

The fault library: `python -m benchmarks.faults` runs these faults on a platform of its own and writes
benchmarks/results/faults.{json,md}; tests/fault/test_load_with_faults.py runs them on the test platform and
holds each to BUDGETS."""

import base64
import contextlib
import os
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import ray
import redis
from ray.util.state import list_actors

from serve_app.common.settings import PlatformSettings
from serve_app.common.shapes import shape_png
from serve_app.ops.local_cluster import LocalPlatform, wait_ready
from testkit.loadgen import percentile
from testkit.polling import NotYet, eventually
from testkit.results import markdown_table

CALLS = {
    "classify": ("/v1/graphs/classify", {"image": base64.b64encode(shape_png("circle", 1)).decode()}),
    "recommend": ("/v1/graphs/recommend", {"user_id": 7, "k": 5}),
    "chat": ("/v1/chat/completions", {"model": "tiny-llama", "max_tokens": 8,
                                      "messages": [{"role": "user", "content": "Name a dish."}]}),
}
REQUEST_TIMEOUT_S = 30  # a request still unanswered after this is a hang, counted as "timeout"


@dataclass(frozen=True)
class Budget:
    """What a fault may cost: failures per kind (None: any number), the statuses they may have, how long
    any failure may take to arrive, and when every request must succeed again."""

    failures: dict[str, int | None]
    statuses: frozenset = frozenset()
    slowest_failure_s: float = 5.0
    recovery_s: float = 0.0


# Stated before measuring, held by the test. The LLM and the Ingress restart (an engine load, the hosted
# models' load) on 2 shared cores; a chat that waits on the killed LLM fails once the controller has seen
# the death (4-6 s here, up to 10.2 s in a busy full-suite run: the budget is 15 s) and the Ingress has read
# it (REFRESH_S). The controller is off the request path;
# Redis backs keys' rate limits (open on error), jobs and analysis locks, none of them on these routes.
BUDGETS = {
    "llm_replica": Budget({"classify": 0, "recommend": 0, "chat": None}, frozenset({503}), 15.0, 150.0),
    "controller": Budget({"classify": 0, "recommend": 0, "chat": 0}),
    "ingress_replica": Budget({"classify": None, "recommend": None, "chat": None},
                              frozenset({502, 503, "connect_error", "reset"}), 5.0, 90.0),
    "redis_10s": Budget({"classify": 0, "recommend": 0, "chat": 0}),
}


@dataclass
class FaultReport:
    fault: str
    requests: int = 0
    failed: dict[str, int] = field(default_factory=dict)  # by kind
    statuses: dict[str, int] = field(default_factory=dict)  # of the failures
    slowest_failure_s: float = 0.0
    recovery_s: float = 0.0  # from the fault to the last failure
    p99_ms: float = 0.0
    readiness_changed_s: float | None = None  # until /health/ready first said anything but "ready"
    jobs: int = 0
    jobs_lost: int = 0

    def breaches(self) -> list[str]:
        budget, found = BUDGETS[self.fault], []
        for kind, allowed in budget.failures.items():
            if allowed is not None and self.failed.get(kind, 0) > allowed:
                found.append(f"{kind}: {self.failed[kind]} failed, budget {allowed}")
        found += [f"status {status} not allowed" for status in self.statuses
                  if _status(status) not in budget.statuses]
        if self.slowest_failure_s > budget.slowest_failure_s:
            found.append(f"a failure took {self.slowest_failure_s:.1f} s, budget {budget.slowest_failure_s} s")
        if self.recovery_s > budget.recovery_s:
            found.append(f"recovery {self.recovery_s:.1f} s, budget {budget.recovery_s} s")
        if self.jobs_lost:
            found.append(f"{self.jobs_lost} of {self.jobs} jobs lost")
        return found


def _status(text: str) -> int | str:
    return int(text) if text.isdigit() else text


@dataclass(frozen=True)
class Outcome:
    at: float
    kind: str
    status: int | str
    seconds: float


class SteadyMix:
    """`concurrency` threads, each calling classify, recommend and chat in turn until stopped."""

    def __init__(self, platform: LocalPlatform, concurrency: int = 8):
        self.platform, self.concurrency = platform, concurrency
        self.outcomes: list[Outcome] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._caller, args=(i,), daemon=True) for i in range(concurrency)]

    def __enter__(self) -> "SteadyMix":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(REQUEST_TIMEOUT_S + 5)

    def _caller(self, offset: int) -> None:
        kinds = list(CALLS)
        with httpx.Client(base_url=self.platform.base_url, headers=self.platform.headers,
                          timeout=REQUEST_TIMEOUT_S) as http:
            for i in range(offset, 10**9):
                if self._stop.is_set():
                    return
                kind = kinds[i % len(kinds)]
                path, body = CALLS[kind]
                started = time.monotonic()
                try:
                    status: int | str = http.post(path, json=body).status_code
                except httpx.TimeoutException:
                    status = "timeout"
                except httpx.ConnectError:
                    status = "connect_error"
                except httpx.TransportError:
                    status = "reset"
                self.outcomes.append(Outcome(started, kind, status, time.monotonic() - started))
                if status != 200:
                    time.sleep(0.2)  # a client backs off a little after a failure


def _kill_actor(class_part: str) -> None:
    """SIGKILL the process of one live actor whose class name holds `class_part`."""
    actors = list_actors(address=ray.get_runtime_context().gcs_address, filters=[("state", "=", "ALIVE")],
                         detail=True)
    pids = [actor["pid"] for actor in actors if class_part in actor["class_name"]]
    os.kill(pids[0], signal.SIGKILL)


@contextlib.contextmanager
def redis_down() -> Iterator[None]:
    """The platform's Redis shut down for the block, then started again as it ran (port, bind, dir, log,
    memory bound, AOF on, so every write made before the shutdown is back)."""
    store = redis.Redis.from_url(PlatformSettings().redis_url)
    settings = {key: store.config_get(key)[key]
                for key in ("port", "dir", "logfile", "bind", "maxmemory", "maxmemory-policy")}
    store.config_set("appendonly", "yes")  # as `make redis` starts it: every write logged before shutdown
    eventually(lambda: not store.info("persistence")["aof_rewrite_in_progress"], 60, 0.1, "the AOF rewritten")
    try:
        store.shutdown()
    except redis.ConnectionError:
        pass  # the server closes the connection as it stops
    try:
        yield
    finally:
        subprocess.run(["redis-server", "--port", settings["port"], "--bind", settings["bind"] or "127.0.0.1",
                        "--dir", settings["dir"], "--logfile", settings["logfile"], "--appendonly", "yes",
                        "--maxmemory", settings["maxmemory"], "--maxmemory-policy", settings["maxmemory-policy"],
                        "--daemonize", "yes"], check=True)
        eventually(store.ping, 10, 0.2, "Redis answering again")


def _redis_down_for(seconds: float) -> None:
    with redis_down():
        time.sleep(seconds)


FAULTS = {
    "llm_replica": lambda: _kill_actor("LLMServer"),
    "controller": lambda: _kill_actor("ServeController"),
    "ingress_replica": lambda: _kill_actor(":Ingress"),
    "redis_10s": lambda: _redis_down_for(10),
}


def _client(platform: LocalPlatform) -> httpx.Client:
    return httpx.Client(base_url=platform.base_url, headers=platform.headers, timeout=30)


def submit_jobs(http: httpx.Client, count: int) -> list[str]:
    """`count` LLM jobs, each with an id of its own; their ids."""
    ids = [f"fault-{uuid.uuid4().hex[:10]}" for _ in range(count)]
    for job_id in ids:
        body = {"prompt": "Review Seoul Garden.", "model": "tiny-llama", "max_tokens": 16}
        assert http.post("/v1/inference", json=body, headers={"X-Request-Id": job_id}).status_code == 202
    return ids


def ended_jobs(http: httpx.Client, ids: list[str], wait_s: float) -> dict[str, dict]:
    """The jobs of `ids` that ended within `wait_s`, by id (every one, unless some are lost or late)."""
    jobs: dict[str, dict] = {}

    def all_ended() -> bool:
        for job_id in set(ids) - set(jobs):
            with contextlib.suppress(httpx.HTTPError, ValueError):  # the platform is coming back
                if (job := http.get(f"/v1/inference/{job_id}").json()).get("status") not in ("QUEUED", "RUNNING",
                                                                                             None):
                    jobs[job_id] = job
        return len(jobs) == len(ids)

    with contextlib.suppress(NotYet):
        eventually(all_ended, wait_s, 0.5)
    return jobs


def _jobs_lost(http: httpx.Client, ids: list[str], wait_s: float = 240) -> int:
    """Jobs that did not end SUCCEEDED within `wait_s` (a job still QUEUED or RUNNING by then counts as lost)."""
    ended = ended_jobs(http, ids, wait_s)
    return sum(ended.get(job_id, {}).get("status") != "SUCCEEDED" for job_id in ids)


def run_fault(platform: LocalPlatform, fault: str, settle_s: float = 3.0) -> FaultReport:
    """The fault struck under the steady mix; the load runs on until the platform is ready and has served
    `settle_s` more."""
    with _client(platform) as http, SteadyMix(platform) as load:
        time.sleep(settle_s)
        jobs = submit_jobs(http, 4)
        struck = time.monotonic()
        FAULTS[fault]()
        readiness_changed_s = _readiness_changes(http, struck)
        wait_ready(platform.base_url, 300)
        time.sleep(settle_s)
    with _client(platform) as http:
        lost = _jobs_lost(http, jobs)
    during = [outcome for outcome in load.outcomes if outcome.at >= struck - 1]
    failures = [outcome for outcome in during if outcome.status != 200]
    latencies = sorted(outcome.seconds * 1000 for outcome in during)
    return FaultReport(
        fault=fault, requests=len(during), failed=dict(Counter(o.kind for o in failures)),
        statuses={str(status): count for status, count in Counter(o.status for o in failures).items()},
        slowest_failure_s=round(max((o.seconds for o in failures), default=0.0), 2),
        recovery_s=round(max((o.at + o.seconds - struck for o in failures), default=0.0), 1),
        p99_ms=round(percentile(latencies, 0.99), 1) if latencies else 0.0, readiness_changed_s=readiness_changed_s,
        jobs=len(jobs), jobs_lost=lost)


def _readiness_changes(http: httpx.Client, struck: float, within_s: float = 15.0) -> float | None:
    """Seconds from the fault until /health/ready first says anything but "ready"; None if it never does."""
    while time.monotonic() - struck < within_s:
        try:
            answer = http.get("/health/ready", timeout=2)
            if answer.status_code != 200 or answer.json().get("status") != "ready":
                return round(time.monotonic() - struck, 2)
        except (httpx.TransportError, ValueError):
            return round(time.monotonic() - struck, 2)
        time.sleep(0.1)
    return None


def markdown(reports: list[FaultReport]) -> str:
    return markdown_table(
        ["fault", "requests", "failed (by kind)", "statuses", "slowest failure", "recovery", "readiness changed",
         "jobs lost", "budget"],
        [[report.fault, report.requests, report.failed or 0, report.statuses or "-", f"{report.slowest_failure_s} s",
          f"{report.recovery_s} s", f"{report.readiness_changed_s} s", f"{report.jobs_lost} of {report.jobs}",
          "; ".join(report.breaches()) or "held"] for report in reports])
