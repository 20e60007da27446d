"""The fault tests' platform: FaultInjector deployments (latency, errors, hangs, crashes, out-of-memory
batches) and graphs over them, added to the session's platform by a test config, once for the package."""

import httpx
import pytest

from serve_app.local_cluster import reconfigured

OK = {"kind": "model", "deployment": "ok", "args": ["$input"]}
RULE = {"kind": "function", "function": "constant", "args": [{"answer": "rule"}]}
FAULTS = {"ok": {}, "ok_b": {}, "flaky": {"error_rate": 1.0}, "slow": {"latency_s": 0.5}, "hung": {"hang": True},
          "oomy": {"oom_above_batch": 2}}
INJECTORS = {name: {"import_path": "deployments.fault_injector:FaultInjector", "init_args": faults}
             for name, faults in FAULTS.items()}
GRAPHS = {
    "guarded": {"root": "primary", "nodes": {
        "primary": {"kind": "model", "deployment": "flaky", "args": ["$input"], "fallback": "rule",
                    "breaker": {"failures": 3, "window_s": 60, "open_s": 2}},
        "rule": RULE}},
    "retried": {"root": "primary", "nodes": {
        "primary": {"kind": "model", "deployment": "flaky", "args": ["$input"],
                    "retry": {"attempts": 3, "backoff_s": 0.2, "max_backoff_s": 1, "jitter": 0}}}},
    "hanging": {"root": "primary", "nodes": {"primary": {"kind": "model", "deployment": "hung", "args": ["$input"], "timeout_s": 0.3}}},
    "abandoned": {"root": "primary", "nodes": {"primary": {"kind": "model", "deployment": "hung", "args": ["$input"]}}},
    "fast": {"root": "primary", "nodes": {"primary": OK}},
    "shadowed": {"root": "primary", "nodes": {
        "primary": {**OK, "shadow": {"node": "candidate", "compare": "x"}},
        "candidate": {"kind": "model", "deployment": "slow", "args": ["$input"]}}},
    "shadow_failing": {"root": "primary", "nodes": {
        "primary": {**OK, "shadow": {"node": "candidate", "compare": "x"}},
        "candidate": {"kind": "model", "deployment": "flaky", "args": ["$input"]}}},
    "routed": {"root": "switch", "nodes": {
        "switch": {"kind": "switch", "on": "$input.tier", "cases": {"gold": "a"}, "default": "b"},
        "a": OK, "b": {"kind": "model", "deployment": "ok_b", "args": ["$input"]}}},
    "split": {"root": "split", "nodes": {
        "split": {"kind": "splitter", "routes": {"a": 0.8, "b": 0.2}},
        "a": OK, "b": {"kind": "model", "deployment": "ok_b", "args": ["$input"]}}},
    "deadlined": {"root": "both", "timeout_s": 0.3, "nodes": {
        "both": {"kind": "sequence", "steps": ["s1", "after"]},
        "s1": {"kind": "model", "deployment": "slow", "args": ["$input"]}, "after": OK}},
    "batched": {"root": "primary", "nodes": {
        "primary": {"kind": "model", "deployment": "oomy", "method": "batched", "args": ["$input"]}}},
    "fanout": {"root": "both", "nodes": {
        "both": {"kind": "ensemble", "branches": ["s1", "s2"]},
        "s1": {"kind": "model", "deployment": "slow", "args": ["$input"]}, "s2": {"kind": "model", "deployment": "slow", "args": ["$input"]}}},
}


@pytest.fixture(scope="package")
def graphs(platform):
    """An HTTP client and the fault config's path, deployed once for every fault test."""
    # flaky's faults also come from its user_config, so a test can heal it live, without restarting anything.
    with reconfigured(platform, {"flaky": {"user_config": FAULTS["flaky"]}},
                      args={"models": INJECTORS, "graphs": GRAPHS}) as config, \
            httpx.Client(base_url=platform.base_url, headers=platform.headers, timeout=30) as http:
        yield http, config
