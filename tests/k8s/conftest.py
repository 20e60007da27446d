"""The k8s-testbed (a real kube-apiserver with the KubeRay operator, ../shared/k8s-testbed) brought up once
for the session, and the built manifests."""

import base64
import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from serve_app.common.settings import REPO_ROOT
from testkit.kuberay import kustomize

K8S = REPO_ROOT / "k8s"
TESTBED = REPO_ROOT.parent / "shared" / "k8s-testbed" / "testbed"
KUSTOMIZATIONS = ("base", "gpu", "local", "monitoring")


class Cluster:
    """kubectl against the testbed, in one namespace made for the session."""

    def __init__(self, kubeconfig: Path, namespace: str):
        self.kubeconfig = kubeconfig
        self.namespace = namespace

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["kubectl", "--kubeconfig", str(self.kubeconfig), "-n", self.namespace, *args],
                              input=stdin, capture_output=True, text=True, check=check, timeout=60)

    def get(self, kind: str, *selectors: str) -> list[dict]:
        return json.loads(self.kubectl("get", kind, *selectors, "-o", "json").stdout)["items"]


def build(kustomization: str) -> list[dict]:
    """`kubectl kustomize k8s/<kustomization>`, offline, as documents."""
    return kustomize(K8S / kustomization)


def pod_specs(doc: dict) -> list[tuple[int, dict]]:
    """(how many run at most, pod spec) of every pod an object makes run: a RayService's head, its autoscaler
    (the operator's sidecar, from autoscalerOptions) and each worker group at its maximum."""
    if doc["kind"] == "RayService":
        ray_cluster = doc["spec"]["rayClusterConfig"]
        autoscaler = {"containers": [{"name": "autoscaler", **ray_cluster["autoscalerOptions"]}]}
        return [(1, ray_cluster["headGroupSpec"]["template"]["spec"]), (1, autoscaler),
                *((group["maxReplicas"], group["template"]["spec"]) for group in ray_cluster["workerGroupSpecs"])]
    if doc["kind"] in ("Deployment", "DaemonSet", "Job"):
        return [(doc["spec"].get("replicas", 1), doc["spec"]["template"]["spec"])]
    return []


@pytest.fixture(scope="session")
def kubectl_present() -> None:
    if shutil.which("kubectl") is None:
        pytest.skip(reason="kubectl is not installed: the manifest tests that need it cannot run")


@pytest.fixture(scope="session")
def cluster(kubectl_present, tmp_path_factory) -> Cluster:
    if not TESTBED.exists():
        pytest.skip(reason=f"no k8s-testbed at {TESTBED}: it is no longer provided beside the repository "
                           "(the manifests are still rendered and schema-checked offline: test_serve_config.py)")
    state = tmp_path_factory.mktemp("k8s-testbed")
    subprocess.run([str(TESTBED), "up", str(state)], capture_output=True, check=True, timeout=300)
    try:
        cluster = Cluster(state / "kubeconfig", f"platform-{uuid.uuid4().hex[:6]}")
        cluster.kubectl("create", "namespace", cluster.namespace)
        # No controller-manager on the testbed: the namespace's default ServiceAccount is made by hand.
        cluster.kubectl("create", "serviceaccount", "default")
        # What an operator of the platform creates before applying k8s/ (k8s/README.md).
        cluster.kubectl("create", "secret", "generic", "platform-secrets", "--from-literal=redis-password=test",
                       "--from-literal=job-data-key=" + base64.b64encode(bytes(32)).decode())
        yield cluster
    finally:
        subprocess.run([str(TESTBED), "down", str(state)], capture_output=True, timeout=120)
