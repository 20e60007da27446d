"""k8s/ on a real control plane (k8s-testbed): the API server validates every manifest, the KubeRay operator
turns the RayService into the RayCluster and Pods we intend, and refuses a broken one. No kubelet runs,
so Pods stay Pending: what runs inside them is tested on the local Ray cluster instead."""

import subprocess
import time

import pytest
import yaml

from tests.k8s.conftest import KUSTOMIZATIONS, build, pod_specs

pytestmark = pytest.mark.usefixtures("kubectl_present")


def _ray_service(kustomization: str, name: str) -> dict:
    (service,) = [doc for doc in build(kustomization) if doc["kind"] == "RayService"]
    service["metadata"]["name"] = name
    return service


def _apply(cluster, *docs: dict, dry_run: bool = False) -> subprocess.CompletedProcess:
    args = ["apply", "-f", "-"] + (["--dry-run=server"] if dry_run else [])
    return cluster.kubectl(*args, stdin=yaml.safe_dump_all(docs), check=False)


def _pods_of(cluster, ray_service: str, count: int) -> dict[str, dict]:
    """The Pods the operator made for `ray_service`, by ray.io/group, once it made `count` of them."""
    deadline = time.monotonic() + 40
    while True:
        (ray_cluster, *_) = cluster.get("raycluster", "-l", f"ray.io/originated-from-cr-name={ray_service}") or [None]
        if ray_cluster is not None:
            pods = cluster.get("pods", "-l", f"ray.io/cluster={ray_cluster['metadata']['name']}")
            if len(pods) == count:
                return {pod["metadata"]["labels"]["ray.io/group"]: pod for pod in pods}
        assert time.monotonic() < deadline, f"the operator made no RayCluster with {count} pods for {ray_service}"
        time.sleep(0.5)


def _container(pod: dict, name: str) -> dict:
    (container,) = [c for c in pod["spec"]["containers"] if c["name"] == name]
    return container


def _env(container: dict) -> dict[str, dict]:
    return {variable["name"]: variable for variable in container.get("env", [])}


def _selects(selector: dict, pod: dict) -> bool:
    return selector["matchLabels"].items() <= pod["metadata"]["labels"].items()


@pytest.mark.parametrize("kustomization", ["base", "gpu"])
def test_the_api_server_accepts_every_manifest(cluster, kustomization):
    """Schema, CEL rules and strict decoding (no unknown field) as a real cluster applies them."""
    result = _apply(cluster, *build(kustomization), dry_run=True)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def cpu_pods(cluster) -> dict[str, dict]:
    """k8s/base applied, and the Pods the operator made of it, by group."""
    result = _apply(cluster, *build("base"))
    assert result.returncode == 0, result.stderr
    return _pods_of(cluster, "platform", count=2)


def test_the_operator_makes_the_intended_cpu_cluster(cpu_pods):
    pods = cpu_pods
    head, worker = _container(pods["headgroup"], "ray-head"), _container(pods["cpu"], "ray-worker")
    for container in (head, worker):
        assert container["image"] == "serving-foundation:0.1.0"
        assert container["envFrom"] == [{"configMapRef": {"name": "platform-env"}}]
        env = _env(container)
        # authOptions: token mode, the token from the Secret the operator made.
        assert env["RAY_AUTH_MODE"]["value"] == "token"
        assert "secretKeyRef" in env["RAY_AUTH_TOKEN"]["valueFrom"]
        assert env["PLATFORM_REDIS_URL"]["value"] == "redis://:$(PLATFORM_REDIS_PASSWORD)@platform-redis:6379/0"
        assert container["resources"]["requests"] and container["resources"]["limits"]
    # GCS fault tolerance: the head stores its tables in our Redis, with the password of our Secret.
    head_env = _env(head)
    assert head_env["RAY_REDIS_ADDRESS"]["value"] == "platform-redis:6379"
    assert head_env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "platform-secrets",
                                                                        "key": "redis-password"}
    assert "--num-cpus=0" in head["args"][0] and "--redis-password=$REDIS_PASSWORD" in head["args"][0]
    # In-tree autoscaling: the autoscaler runs beside the head, with its own resources.
    autoscaler = _container(pods["headgroup"], "autoscaler")
    assert autoscaler["resources"]["limits"] == {"cpu": "500m", "memory": "512Mi"}
    # Our readiness probe replaces the operator's on workers; its liveness probe (raylet health) stays.
    assert worker["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": 8000, "scheme": "HTTP"}
    assert worker["livenessProbe"]["httpGet"]["port"] == 52365
    assert "/api/healthz" in head["readinessProbe"]["httpGet"]["path"]
    assert pods["headgroup"]["metadata"]["labels"]["ray.io/serve"] == "false"  # excludeHeadPodFromServeSvc


def test_the_policies_and_monitors_select_the_operators_pods(cpu_pods):
    """NetworkPolicy and PodMonitor selectors match the labels the operator gives its Pods, and the port
    Prometheus scrapes is declared on them (the monitors' CRDs are not on the testbed)."""
    pods = cpu_pods.values()
    policies = {doc["metadata"]["name"]: doc for doc in build("base") if doc["kind"] == "NetworkPolicy"}
    (ray_monitor,) = [doc for doc in build("monitoring") if doc["metadata"]["name"] == "platform-ray"]
    for pod in pods:
        assert _selects(policies["platform-ray"]["spec"]["podSelector"], pod)
        assert _selects(policies["platform-redis"]["spec"]["ingress"][0]["from"][0]["podSelector"], pod)
        assert _selects(ray_monitor["spec"]["selector"], pod)
        ports = {port["name"] for port in pod["spec"]["containers"][0]["ports"]}
        assert ray_monitor["spec"]["podMetricsEndpoints"][0]["port"] in ports


def test_the_operator_makes_the_intended_gpu_cluster(cluster):
    assert _apply(cluster, _ray_service("gpu", "platform-gpu")).returncode == 0
    pods = _pods_of(cluster, "platform-gpu", count=3)
    gpu = pods["gpu"]
    worker = _container(gpu, "ray-worker")
    assert worker["image"] == "serving-foundation-gpu:0.1.0"
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "--num-gpus=1" in worker["args"][0]
    assert gpu["spec"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in gpu["spec"]["tolerations"]
    assert _env(worker)["RAY_AUTH_MODE"]["value"] == "token"
    assert worker["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert "nvidia.com/gpu" not in _container(pods["cpu"], "ray-worker")["resources"]["limits"]


def test_the_operator_refuses_min_replicas_above_max(cluster):
    broken = _ray_service("base", "platform-broken")
    broken["spec"]["rayClusterConfig"]["workerGroupSpecs"][0].update(minReplicas=5, maxReplicas=4)
    assert _apply(cluster, broken).returncode == 0  # the schema allows it; the operator does not
    deadline = time.monotonic() + 30
    while not [event for event in cluster.get("events", "--field-selector", "involvedObject.name=platform-broken")
               if event["reason"] == "InvalidRayServiceSpec"]:
        assert time.monotonic() < deadline, "no InvalidRayServiceSpec event"
        time.sleep(0.5)
    assert cluster.get("raycluster", "-l", "ray.io/originated-from-cr-name=platform-broken") == []


def test_the_api_server_refuses_an_unknown_field(cluster):
    typo = _ray_service("base", "platform-typo")
    head = typo["spec"]["rayClusterConfig"]["headGroupSpec"]
    head["rayStartParam"] = head.pop("rayStartParams")
    result = _apply(cluster, typo, dry_run=True)
    assert result.returncode != 0
    assert 'unknown field "spec.rayClusterConfig.headGroupSpec.rayStartParam"' in result.stderr


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_container_has_requests_and_limits(kustomization):
    for doc in build(kustomization):
        for _, spec in pod_specs(doc):
            for container in spec.get("initContainers", []) + spec["containers"]:
                assert {"requests", "limits"} <= container.get("resources", {}).keys(), (doc["kind"], container["name"])
