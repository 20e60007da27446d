"""k8s/local, offline (`kubectl kustomize`): one node of 2 cores and 24 GB can run it (requests and limits of every
container, each worker counted at its group's maximum), the local image is never pulled, its Secrets come with
it, and there is no GPU."""

import base64

import pytest

from serve_app.keys import split_key
from tests.k8s.conftest import build, pod_specs

pytestmark = pytest.mark.usefixtures("kubectl_present")

# Under the node's 2 cores, leaving room for the node's own agents (kubelet, kube-proxy, the CNI, the operator).
CPU_REQUESTS_MAX = 1.8
# Under the node's 24 GB (22.3 GiB) with 2 GiB for the kernel and the node's agents.
MEMORY_LIMITS_MAX_GIB = 20.0
LOCAL_IMAGE = "localhost/serving-foundation:0.1.0"


def _cpus(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def _gib(quantity: str) -> float:
    units = {"Ki": 2**-20, "Mi": 2**-10, "Gi": 1.0}
    return float(quantity[:-2]) * units[quantity[-2:]]


def _containers(documents: list[dict]) -> list[tuple[int, dict]]:
    """(how many run at most, container) of every container the overlay makes run; the autoscaler runs the
    head's image."""
    return [(count, {"image": LOCAL_IMAGE, **c} if c["name"] == "autoscaler" else c)
            for document in documents for count, spec in pod_specs(document) for c in spec["containers"]]


@pytest.fixture(scope="module")
def local() -> list[dict]:
    return build("local")


def test_one_small_node_holds_it(local):
    containers = _containers(local)
    assert {c["name"] for _, c in containers} >= {"ray-head", "ray-worker", "autoscaler", "redis", "materialize"}
    for _, container in containers:
        resources = container["resources"]
        assert {"cpu", "memory"} <= resources["requests"].keys() & resources["limits"].keys(), container["name"]
    cpu = sum(count * _cpus(c["resources"]["requests"]["cpu"]) for count, c in containers)
    memory = sum(count * _gib(c["resources"]["limits"]["memory"]) for count, c in containers)
    assert cpu < CPU_REQUESTS_MAX and memory <= MEMORY_LIMITS_MAX_GIB, (cpu, memory)


def test_the_local_image_everywhere_never_pulled_and_no_gpu(local):
    for _, container in _containers(local):
        assert (container["image"], container["imagePullPolicy"]) == (LOCAL_IMAGE, "IfNotPresent"), container["name"]
        assert "nvidia.com/gpu" not in container["resources"]["limits"]
    (service,) = [d for d in local if d["kind"] == "RayService"]
    assert [group["groupName"] for group in service["spec"]["rayClusterConfig"]["workerGroupSpecs"]] == ["cpu"]


def test_its_secrets_come_with_it_and_the_head_registers_the_admin_key(local):
    secrets = {d["metadata"]["name"]: d for d in local if d["kind"] == "Secret"}
    assert set(secrets) == {"platform-secrets", "platform-admin-key"}
    assert split_key(base64.b64decode(secrets["platform-admin-key"]["data"]["api-key"]).decode()) is not None
    assert len(base64.b64decode(base64.b64decode(secrets["platform-secrets"]["data"]["job-data-key"]))) == 32
    (service,) = [d for d in local if d["kind"] == "RayService"]
    (head,) = service["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"]
    assert head["command"] == ["python", "-m", "serve_app.keys", "init"]
    key_file = {e["name"]: e.get("value") for e in head["env"]}["PLATFORM_ADMIN_KEY_FILE"]
    (mount,) = head["volumeMounts"]
    assert key_file == f"{mount['mountPath']}/api-key"
