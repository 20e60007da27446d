"""The multi-host settings (serve_app/cluster/settings.py), which `python -m serve_app.cluster` starts its nodes with,
are the ones the k8s/ manifests use: each node's environment, the head and workers, and the serve config."""

import yaml

from serve_app.cluster.settings import MIN_INGRESS_REPLICAS, NODE_ENV, NODE_PATHS, ONE_MACHINE_ONLY, node_env
from tests.k8s.conftest import K8S

PLATFORM_ENV = yaml.safe_load((K8S / "base" / "platform-env.yaml").read_text())["data"]
RAY_SERVICE = yaml.safe_load((K8S / "base" / "ray-service.platform.yaml").read_text())["spec"]
CLUSTER = RAY_SERVICE["rayClusterConfig"]


def _pod_env(group: dict) -> dict:
    (container,) = group["template"]["spec"]["containers"]
    return {entry["name"]: entry for entry in container.get("env", [])}


def test_the_pods_start_with_the_multi_host_environment():
    assert {key: PLATFORM_ENV[key] for key in NODE_ENV} == NODE_ENV
    assert set(PLATFORM_ENV) == set(NODE_ENV) | set(NODE_PATHS)
    assert not set(ONE_MACHINE_ONLY) & set(PLATFORM_ENV)


def test_every_pod_reaches_one_redis_with_a_password_and_shares_the_job_data_key():
    for group in [CLUSTER["headGroupSpec"], *CLUSTER["workerGroupSpecs"]]:
        env = _pod_env(group)
        assert env["PLATFORM_REDIS_URL"]["value"].startswith("redis://:$(PLATFORM_REDIS_PASSWORD)@platform-redis:")
        assert env["PLATFORM_JOBS_DATA_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "platform-secrets"


def test_a_node_started_by_the_cluster_tool_gets_the_same_values(monkeypatch):
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # as the Makefile exports it for one machine
    monkeypatch.setenv("PLATFORM_KEY_STORE", "file")
    env = node_env("redis://:secret@10.0.0.1:6379/0", {"PLATFORM_ARTIFACTS_DIR": "/shared/artifacts"})
    assert {key: env[key] for key in NODE_ENV} == NODE_ENV
    assert "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER" not in env and env["PLATFORM_REDIS_URL"].endswith("@10.0.0.1:6379/0")


def test_the_head_schedules_nothing_and_keeps_its_tables_in_a_redis_of_their_own():
    assert CLUSTER["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    gcs_redis = CLUSTER["gcsFaultToleranceOptions"]["redisAddress"].split(":")[0]
    # Not the platform's: the GCS exits when its Redis goes, and the platform's restarts take no head with them.
    assert gcs_redis == "platform-gcs-redis"
    assert f"@{gcs_redis}:" not in _pod_env(CLUSTER["headGroupSpec"])["PLATFORM_REDIS_URL"]["value"]


def test_each_worker_runs_a_proxy_and_an_ingress_replica_so_losing_one_leaves_one():
    serve = yaml.safe_load(RAY_SERVICE["serveConfigV2"])
    assert serve["proxy_location"] == "EveryNode" and serve["http_options"]["host"] == "0.0.0.0"
    assert PLATFORM_ENV["RAY_SERVE_ENABLE_HA_PROXY"] == "1"
    (ingress,) = [d for d in serve["applications"][0]["deployments"] if d["name"] == "Ingress"]
    (workers,) = CLUSTER["workerGroupSpecs"]
    assert ingress["autoscaling_config"]["min_replicas"] == MIN_INGRESS_REPLICAS <= workers["minReplicas"]
