"""The test platform's configuration: serve_config.yaml with what the tests add, deployed once per run.

FaultInjector deployments (latency, errors, hangs, out-of-memory batches) and graphs over them, a model added
by one file and one config entry (tests/integration/added_model/), a short body deadline and short job timers.
A test that needs another setting changes only the deployments it needs (`testkit.platform.reconfigured`)."""

import copy
import uuid

import yaml

from serve_app.common.settings import REPO_ROOT

# Job timers of the test platform, process settings that every Ray worker inherits: a job may run 30 s
# (production 60 s; long enough to wait out an Ingress restart); eight retries 2, 4, 8 and then 10 s apart,
# 64 s in all, longer than the LLM engine takes to come back under load here (about 50 s; production: five
# retries, 10, 20, 40, 60 and 60 s); a dead consumer's job back after 30 + 10 + 5 s (production 7 minutes).
# Production values where they are the point: tests/unit/serve_app/jobs/test_settings.py.
JOB_ENV = {"PLATFORM_JOBS_MAX_TIMEOUT_S": "30", "PLATFORM_JOBS_DEFAULT_TIMEOUT_S": "30",
           "PLATFORM_JOBS_REDELIVERY_MARGIN_S": "5", "PLATFORM_JOBS_MAX_RETRIES": "8",
           "PLATFORM_JOBS_RETRY_BACKOFF_S": "2", "PLATFORM_JOBS_RETRY_BACKOFF_MAX_S": "10",
           "PLATFORM_JOBS_ACQUIRE_TIMEOUT_S": "3"}
# The job queue of one test run: its own name, so two runs (or a run beside `make run`) never share messages.
QUEUE_PREFIX = "tests-jobs"
# How long a request body may trickle in before the gate answers 408 (production 10 s).
BODY_TIMEOUT_S = 2.0
# HAProxy's request-header deadline and per-source connection cap (production 10 s and 512; every test
# client is one source, 127.0.0.1).
HAPROXY_ENV = {"PLATFORM_HAPROXY_HEADER_TIMEOUT_S": "2", "PLATFORM_HAPROXY_CONNECTIONS_PER_SOURCE": "400"}

OK = {"kind": "model", "deployment": "ok", "args": ["$input"]}
RULE = {"kind": "function", "function": "constant", "args": [{"answer": "rule"}]}
# Each fault gets its own deployment, so a test that heals one touches no other test's.
FAULTS = {"ok": {}, "ok_b": {}, "flaky": {"error_rate": 1.0}, "flaky_jobs": {"error_rate": 1.0},
          "slow": {"latency_s": 0.5}, "hung": {"hang": True}, "oomy": {"oom_above_batch": 2}}
INJECTORS = {name: {"import_path": "testkit.fault_injector:FaultInjector", "init_args": faults}
             for name, faults in FAULTS.items()}
FAULT_GRAPHS = {
    "guarded": {"root": "primary", "nodes": {
        "primary": {"kind": "model", "deployment": "flaky", "args": ["$input"], "fallback": "rule",
                    "breaker": {"failures": 3, "window_s": 60, "open_s": 2}},
        "rule": RULE}},
    "retried": {"root": "primary", "nodes": {
        "primary": {"kind": "model", "deployment": "flaky", "args": ["$input"],
                    "retry": {"attempts": 3, "backoff_s": 0.2, "max_backoff_s": 1, "jitter": 0}}}},
    "failing_job": {"root": "primary", "nodes": {
        "primary": {"kind": "model", "deployment": "flaky_jobs", "args": ["$input"]}}},
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

# The fleet: two Ingress replicas reading keys from Redis and sharing rate limits there, the low tier tight.
FLEET_PER_MINUTE, FLEET_TOKENS, KEY_REFRESH_S = 60, 150, 1
FLEET_INGRESS = {
    "user_config": {"security": {"key_refresh_s": KEY_REFRESH_S, "rate_limits": {"on_store_error": "closed", "tiers": {
        "high": {"requests_per_second": 1000, "requests_per_minute": 60000, "tokens_per_minute": 1000000},
        "normal": {"requests_per_second": 1000, "requests_per_minute": 60000, "tokens_per_minute": 1000000},
        "low": {"requests_per_second": 1000, "requests_per_minute": FLEET_PER_MINUTE,
                "tokens_per_minute": FLEET_TOKENS}}}}},
    "autoscaling_config": {"min_replicas": 2, "max_replicas": 2},
    "ray_actor_options": {"num_cpus": 0.1, "runtime_env": {"env_vars": {"PLATFORM_KEY_STORE": "redis"}}}}

# A model added by one deployment file and one config entry; its module is found on the workers' PYTHONPATH.
ADDED_MODELS = {"TextStats": {"import_path": "tests.integration.added_model.text_stats:TextStats",
                              "init_args": {"version": "2026-11"}}}
ADDED_GRAPHS = {"text_length": {
    "root": "count", "input": {"text": {"type": "string", "max_length": 1000}}, "output": {"length": "$count"},
    "nodes": {"count": {"kind": "model", "deployment": "TextStats", "method": "count", "args": ["$input.text"]}}}}


def base_config() -> dict:
    return yaml.safe_load((REPO_ROOT / "serve_config.yaml").read_text())


def deployment_entry(config: dict, name: str) -> dict:
    (entry,) = [d for d in config["applications"][0]["deployments"] if d["name"] == name]
    return entry


def platform_config(http_port: int, grpc_port: int) -> dict:
    """serve_config.yaml on the given ports with the fault injectors, their graphs, the added model, the
    injectors' faults in their user_config (a test heals one live), the short body deadline, one Ingress."""
    config = copy.deepcopy(base_config())
    config["http_options"]["port"], config["grpc_options"]["port"] = http_port, grpc_port
    application = config["applications"][0]
    application["args"]["models"].update({**INJECTORS, **ADDED_MODELS})
    application["args"]["graphs"].update({**FAULT_GRAPHS, **ADDED_GRAPHS})
    application["runtime_env"] = {"env_vars": {"PYTHONPATH": str(REPO_ROOT)}}
    for name in ("flaky", "flaky_jobs"):
        application["deployments"].append({"name": name, "user_config": FAULTS[name]})
    ingress = deployment_entry(config, "Ingress")
    ingress["user_config"]["security"]["body_timeout_s"] = BODY_TIMEOUT_S
    # One replica, whatever load earlier tests made: per-replica state (breakers, the semantic cache, graph
    # stats) is then the platform's. The tests of two replicas ask for them (tests/conftest.py `fleet`).
    ingress["autoscaling_config"].update(min_replicas=1, max_replicas=1)
    return config


def new_queue_name() -> str:
    return f"{QUEUE_PREFIX}-{uuid.uuid4().hex[:8]}"
