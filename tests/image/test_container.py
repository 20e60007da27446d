"""The image `make image` built, run as k8s/local's pods run it, without Kubernetes: each pod a container
(runc, testkit/pods.py) in a network namespace of its own on a bridge, named as the manifests name their Services;
Redis and the GCS's Redis on the image's redis-server with the manifests' arguments; the head and two workers
with the command and environment the KubeRay operator generates from the rendered RayService (testkit/kuberay);
the feast-materialize Job's command; then the operator's deploy of serveConfigV2 through the dashboard's REST
API. The platform must answer ready, classify and chat through each worker's port 8000, with the admin key of
the overlay's Secret. `make test-image` (about 10 minutes with the build; not in `make test`'s budget)."""

import json
import resource
import tomllib
import uuid

import httpx
import pytest

from serve_app.cluster import network
from serve_app.common.settings import REPO_ROOT
from testkit import kuberay, pods
from testkit.faults import CALLS
from testkit.polling import NotYet, eventually

pytestmark = pytest.mark.image

PROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
IMAGE = f"localhost/{PROJECT['name']}:{PROJECT['version']}"
# Pods by role, each a host on the bridge; the names the manifests use for the Services in front of them.
ROLES = {"redis": 40, "gcs-redis": 41, "head": 42, "worker-1": 43, "worker-2": 44}
SERVICES = {"platform-redis": "redis", "platform-gcs-redis": "gcs-redis", "platform-head-svc": "head"}
READY_TIMEOUT_S = 900
# KubeRay's `ulimit -n` as far as this machine's hard limit allows (a kubelet's containers get a higher one).
ULIMIT = {"RAY_START_ULIMIT_OPEN_FILES": str(min(65536, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))}


class Pods:
    """One container per pod, each in its own namespace on the bridge; removed with their namespaces."""

    def __init__(self, documents: list[dict], state):
        self.documents, self.state, self.tag = documents, state, uuid.uuid4().hex[:6]
        self.hosts = {role: network.create_host(index) for role, index in ROLES.items()}
        self.ip = {role: network.host_ip(index) for role, index in ROLES.items()}
        self.running: dict[str, pods.Pod] = {}

    def run(self, role: str, command: list[str], env: dict[str, str], files: dict[str, str] | None = None,
            shm: str = "64m") -> pods.Pod:
        if role in self.running:  # the pod before it on this host (a Job's) is gone
            self.running.pop(role).remove()
        # The Services' names are in /etc/hosts (there is no cluster DNS); gRPC's own resolver (c-ares) does not
        # read that file, the system's does.
        env = env | {"GRPC_DNS_RESOLVER": "native"}
        pod = pods.start(f"sf-{self.tag}-{role}", IMAGE, self.hosts[role], command, env, self.state, files,
                         {name: self.ip[target] for name, target in SERVICES.items()} | {role: self.ip[role]}, shm)
        self.running[role] = pod
        return pod

    def wait_until(self, url: str, timeout_s: float, what: str, status: str | None = None) -> None:
        """`url` answers 200 (with that `status` in its JSON) within the time, else the failure shows the Ray pods'
        last lines."""
        try:
            eventually(lambda: _answers(url, status), timeout_s, 2, what)
        except NotYet as error:
            logs = "\n".join(f"--- {role}:\n{pod.logs()}" for role, pod in self.running.items() if "redis" not in role)
            raise NotYet(f"{error}\n{logs}") from None

    def remove(self) -> None:
        for pod in self.running.values():
            pod.remove()
        network.remove(list(self.hosts.values()))


def _deployment(documents: list[dict], name: str) -> dict:
    (found,) = [d for d in documents if d["kind"] == "Deployment" and d["metadata"]["name"] == name]
    return found["spec"]["template"]["spec"]["containers"][0]


def _redis_command(container: dict, documents: list[dict]) -> list[str]:
    env = kuberay.container_env(container, documents)
    return container["command"] + [env.get(arg[2:-1], arg) if arg.startswith("$(") else arg
                                   for arg in container["args"]]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not pods.image_exists(IMAGE):
        pytest.skip(reason=f"no image {IMAGE} in the container storage: `make test-image` builds it first")
    if network.bridge_exists():
        pytest.skip(reason=f"the bridge {network.BRIDGE} is up (`make cluster`?): bring it down first")
    network.create_bridge()
    running = Pods(kuberay.kustomize(REPO_ROOT / "k8s" / "local"), tmp_path_factory.mktemp("pods"))
    try:
        yield running
    finally:
        running.remove()


@pytest.fixture(scope="module")
def started(cluster):
    """Redis, the head, the Job, the workers, then the deploy, as the operator orders them."""
    documents, tmp = cluster.documents, cluster.state
    for role, name in (("redis", "platform-redis"), ("gcs-redis", "platform-gcs-redis")):
        container = _deployment(documents, name)
        (tmp / role).mkdir()
        cluster.run(role, _redis_command(container, documents), {}, {str(tmp / role): "/data/"})
    (service,) = [d for d in documents if d["kind"] == "RayService"]
    ray_cluster = service["spec"]["rayClusterConfig"]
    admin_key = kuberay.container_env({"env": [{"name": "k", "valueFrom": {"secretKeyRef": {
        "name": "platform-admin-key", "key": "api-key"}}}]}, documents)["k"]
    (tmp / "api-key").write_text(admin_key)
    token, address = uuid.uuid4().hex, f"platform-head-svc:{kuberay.GCS_PORT}"
    head_group = kuberay.head_params(ray_cluster)
    head = head_group["template"]["spec"]["containers"][0]
    command = kuberay.ray_start_command(head_group, head=True, head_address=address, login_shell=True)
    env = kuberay.container_env(head, documents) | kuberay.operator_env(ray_cluster, "headgroup", True, address,
                                                                        command[-1], token, documents)
    (mount,) = head["volumeMounts"]
    cluster.run("head", command, env | ULIMIT, {str(tmp / "api-key"): f"{mount['mountPath']}/api-key"}, shm="512m")
    dashboard = f"http://{cluster.ip['head']}:{kuberay.DASHBOARD_PORT}"
    cluster.wait_until(f"{dashboard}/api/gcs_healthz", 180, "the head's GCS (the operator's readiness probe)")

    job = [d for d in documents if d["kind"] == "Job"][0]["spec"]["template"]["spec"]["containers"][0]
    materialized = cluster.run("worker-1", job["command"], kuberay.container_env(job, documents))
    assert materialized.wait(300) == 0, materialized.logs()

    (group,) = ray_cluster["workerGroupSpecs"]
    worker = group["template"]["spec"]["containers"][0]
    command = kuberay.ray_start_command(group, head=False, head_address=address, login_shell=True)
    env = kuberay.container_env(worker, documents) | kuberay.operator_env(ray_cluster, group["groupName"], False,
                                                                          address, command[-1], token, documents)
    for role in ("worker-1", "worker-2"):
        cluster.run(role, command, env | ULIMIT, shm="2g")
    kuberay.deploy_serve_config(dashboard, service, token)
    return {"admin_key": admin_key, "head_command": json.dumps(head_group["rayStartParams"]),
            "workers": [f"http://{cluster.ip[role]}:8000" for role in ("worker-1", "worker-2")]}


def _answers(url: str, status: str | None = None) -> bool:
    try:
        answer = httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return False
    return answer.status_code == 200 and (status is None or answer.json()["status"] == status)


def test_ray_and_python_are_on_the_path_of_any_shell(cluster):
    for shell in ("-c", "-lc"):
        pod = cluster.run("worker-2", ["/bin/bash", shell, "command -v ray && python --version"], {})
        assert pod.wait(120) == 0 and "Python 3.11" in pod.logs(), (shell, pod.logs())


def test_the_platform_in_the_image_answers_as_kuberay_starts_it(cluster, started):
    assert '"num-cpus": "0"' in started["head_command"]  # base's head, read from the manifests
    for url in started["workers"]:
        # "ready", not merely 200 ("degraded" is 200 while an LLM still loads).
        cluster.wait_until(f"{url}/health/ready", READY_TIMEOUT_S, f"{url} ready", status="ready")
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {started['admin_key']}"},
                          timeout=120) as http:
            answers = {kind: http.post(path, json=body) for kind, (path, body) in CALLS.items()}
            for kind, answer in answers.items():
                assert answer.status_code == 200, (url, kind, answer.text[:300])
            assert answers["classify"].json()["label"] and answers["recommend"].json()["items"]
            assert answers["chat"].json()["choices"][0]["message"]["content"]
