"""Faults across the hosts of a multi-host cluster (`python -m serve_app.cluster`) under a steady mix of classify,
recommend and chat through several hosts' proxies, with jobs submitted just before each: a worker host killed
(no notice), a worker host drained (Ray's node drain), the head restarted (GCS fault tolerance on Redis), Redis
restarted. Budgets are stated here, before anything runs; tests/cluster holds them and
`python -m benchmarks.cluster_faults` writes benchmarks/results/cluster_faults.{json,md}."""

import contextlib
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from serve_app.cluster import network, nodes
from serve_app.cluster.lifecycle import env_for, restart_head, restart_redis
from serve_app.cluster.state import ClusterState, Host
from serve_app.ops.local_cluster import LocalPlatform, serve_client
from testkit.faults import SteadyMix, ended_jobs, submit_jobs
from testkit.polling import NotYet, eventually
from testkit.results import markdown_table

# The window the share of successes is counted over: from this long before the fault to this long after.
WINDOW_S = 30.0
CONCURRENCY_PER_PROXY = 4


@dataclass(frozen=True)
class ClusterBudget:
    """The share of requests through the `watched` proxies (the head's, or the workers') that must succeed in
    the window around the fault; every job submitted before it must end SUCCEEDED."""

    watched: str  # "head" | "workers"
    success_share: float
    kinds: tuple[str, ...] = ("classify", "recommend", "chat")  # the requests counted


BUDGETS = {
    # In flight on the dead host (its Ingress replica, what else ran there) may fail; the rest goes on.
    "worker_killed": ClusterBudget("head", 0.95),
    # The host of the one LLM replica: chat answers 503 (fast) until the engine runs on a survivor; the graphs
    # without the LLM go on as above.
    "llm_host_killed": ClusterBudget("head", 0.95, kinds=("classify", "recommend")),
    # Serve starts the host's replicas elsewhere before it stops them: nothing fails.
    "worker_drained": ClusterBudget("head", 1.0),
    # Proxies and replicas on the workers serve on while the head (GCS, controller, dashboard) is away.
    "head_restarted": ClusterBudget("workers", 1.0),
    # As on one machine (testkit/faults.py, redis_10s): nothing on these routes needs Redis to answer.
    "redis_restarted": ClusterBudget("head", 1.0),
}


@dataclass
class ClusterFaultReport:
    fault: str
    victim: str
    requests: dict[str, int] = field(default_factory=dict)  # in the window, by proxy host
    failed: dict[str, int] = field(default_factory=dict)  # by proxy host
    statuses: dict[str, int] = field(default_factory=dict)  # of the failures
    success_share: float = 1.0  # through the watched proxies
    readiness: list[str] = field(default_factory=list)  # what a surviving proxy's /health/ready said meanwhile
    serving_again_s: float | None = None  # until every deployment ran a replica again, none on the victim
    whole_again_s: float | None = None  # until the cluster was whole again (the victim back, if it went away)
    jobs: int = 0
    jobs_lost: int = 0
    took_s: float = 0.0  # the whole run of the fault: load, fault, recovery, the victim back

    def breaches(self) -> list[str]:
        budget, found = BUDGETS[self.fault], []
        if self.success_share < budget.success_share:
            found.append(f"{self.success_share:.1%} succeeded through the {budget.watched}, budget "
                         f"{budget.success_share:.0%}")
        if self.jobs_lost:
            found.append(f"{self.jobs_lost} of {self.jobs} jobs lost")
        if self.serving_again_s is None or self.whole_again_s is None:
            found.append("the cluster was not whole again")
        return found


def _platform(host: Host, api_key: str) -> LocalPlatform:
    return LocalPlatform(host.http, "", Path("."), api_key)


def _replicas(state: ClusterState) -> dict:
    return serve_client(state.dashboard_url).get_serve_details()["applications"]["platform"]["deployments"]


def serving_without(state: ClusterState, away: Host | None) -> bool:
    """Every deployment but the job consumer (it scales to zero) runs a replica, none on the host away."""
    for name, deployment in _replicas(state).items():
        running = [r for r in deployment["replicas"] if r["state"] == "RUNNING"]
        if any(away is not None and r["node_ip"] == away.ip for r in running):
            return False
        if name != "JobConsumer" and not running:
            return False
    return True


def whole(state: ClusterState) -> bool:
    """Every deployment HEALTHY with all its replicas running, and every host's proxy ready."""
    if any(d["status"] != "HEALTHY" or any(r["state"] != "RUNNING" for r in d["replicas"])
           for d in _replicas(state).values()):
        return False
    return all(nodes.answers_ready(host) for host in state.hosts)


def _host_fault(fault: str) -> bool:
    return fault in ("worker_killed", "llm_host_killed", "worker_drained")


def _victim(state: ClusterState, fault: str) -> Host | None:
    """The worker running the LLM for `llm_host_killed` and a drain (the costliest host to lose), a worker
    without it for `worker_killed`, the head for its restart; no host for Redis's."""
    if fault == "redis_restarted":
        return None
    if fault == "head_restarted":
        return state.head
    llm = {r["node_ip"] for r in _replicas(state)["LLMServer"]["replicas"] if r["state"] == "RUNNING"}
    with_llm = [worker for worker in state.workers if worker.ip in llm]
    without = [worker for worker in state.workers if worker.ip not in llm]
    return (without if fault == "worker_killed" else with_llm or without)[0]


def _strike(state: ClusterState, fault: str, victim: Host | None) -> None:
    if fault in ("worker_killed", "llm_host_killed"):
        network.kill_host(victim.netns)
    elif fault == "worker_drained":
        nodes.drain(state, victim, env_for(state), deadline_s=120)
    elif fault == "head_restarted":
        restart_head(state)
    else:
        restart_redis(state)


def run_cluster_fault(state: ClusterState, fault: str, api_key: str, settle_s: float = 5.0,
                      recovery_timeout_s: float = 300) -> ClusterFaultReport:
    """The fault struck under the mix; the mix runs until the window after it closed and the replicas settled.
    A host that went away joins again afterwards, so the next fault finds the cluster whole."""
    began, victim = time.monotonic(), _victim(state, fault)
    watched = [state.head] if BUDGETS[fault].watched == "head" else state.workers
    loaded = [host for host in state.hosts if host != victim]
    survivor = next(host for host in state.workers if host != victim)
    report = ClusterFaultReport(fault, victim.name if victim else "redis")
    mixes = {host.name: SteadyMix(_platform(host, api_key), CONCURRENCY_PER_PROXY) for host in loaded}
    with contextlib.ExitStack() as stack, httpx.Client(base_url=survivor.http, timeout=30,
                                                       headers={"Authorization": f"Bearer {api_key}"}) as http:
        for mix in mixes.values():
            stack.enter_context(mix)
        time.sleep(settle_s)
        jobs = submit_jobs(http, 4)
        struck = time.monotonic()
        # Read on a thread: a drain or a head restart holds the strike until it is done.
        watcher = threading.Thread(target=_watch_readiness, args=(survivor, struck + WINDOW_S, report.readiness),
                                   daemon=True)
        watcher.start()
        _strike(state, fault, victim)
        with contextlib.suppress(NotYet):
            eventually(lambda: serving_without(state, victim if _host_fault(fault) else None),
                       recovery_timeout_s, 1.0, "serving again")
            report.serving_again_s = round(time.monotonic() - struck, 1)
        watcher.join()
    window = {name: [o for o in mix.outcomes if struck - WINDOW_S <= o.at <= struck + WINDOW_S]
              for name, mix in mixes.items()}
    report.requests = {name: len(outcomes) for name, outcomes in window.items()}
    report.failed = {name: sum(o.status != 200 for o in outcomes) for name, outcomes in window.items()}
    report.statuses = dict(Counter(str(o.status) for outcomes in window.values() for o in outcomes if o.status != 200))
    seen = [o for host in watched if host.name in window for o in window[host.name] if o.kind in BUDGETS[fault].kinds]
    report.success_share = round(sum(o.status == 200 for o in seen) / max(len(seen), 1), 4)
    with httpx.Client(base_url=survivor.http, timeout=30, headers={"Authorization": f"Bearer {api_key}"}) as http:
        ended = ended_jobs(http, jobs, 240)
    report.jobs, report.jobs_lost = len(jobs), sum(ended.get(j, {}).get("status") != "SUCCEEDED" for j in jobs)
    if _host_fault(fault):  # the host comes back (a new machine in its place)
        nodes.start_node(state, victim, env_for(state))
    with contextlib.suppress(NotYet):
        eventually(lambda: whole(state), recovery_timeout_s, 1.0, "the cluster whole")
        report.whole_again_s = round(time.monotonic() - struck, 1)
    report.took_s = round(time.monotonic() - began, 1)
    return report


def _watch_readiness(host: Host, until: float, seen: list[str]) -> None:
    """Each distinct answer of the host's /health/ready until `until`, into `seen`: "ready", or what was not
    and why."""
    while time.monotonic() < until:
        try:
            answer = httpx.get(f"{host.http}/health/ready", timeout=2).json()
            # The graphs that cannot serve, or (when every graph can) the deployments short of replicas.
            short = sorted(g for g, ok in answer.get("graphs", {}).items() if not ok) or sorted(
                d for d, status in answer.get("deployments", {}).items() if status != "HEALTHY")
            said = answer["status"] if answer["status"] == "ready" else f"{answer['status']}: {','.join(short)}"
        except (httpx.HTTPError, ValueError, KeyError):
            said = "unreachable"
        if not seen or seen[-1] != said:
            seen.append(said)
        time.sleep(0.5)


def markdown(reports: list[ClusterFaultReport]) -> str:
    return markdown_table(
        ["fault", "victim", "requests (by proxy)", "failed (by proxy)", "statuses", "success (watched)",
         "readiness meanwhile", "serving again", "whole again", "jobs lost", "budget"],
        [[r.fault, r.victim, r.requests, r.failed, r.statuses or "-", f"{r.success_share:.2%}",
          " → ".join(r.readiness), f"{r.serving_again_s} s", f"{r.whole_again_s} s", f"{r.jobs_lost} of {r.jobs}",
          "; ".join(r.breaches()) or "held"] for r in reports])
