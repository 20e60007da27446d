"""The image `make image` built, run as k8s/local's pods run it, without Kubernetes: each pod a container
(podman on runc) in a network namespace of its own on a bridge, named as the manifests name their Services;
Redis and the GCS's Redis on the image's redis-server with the manifests' arguments; the head and two workers
with the command and environment the KubeRay operator generates from the rendered RayService (testkit/kuberay);
the feast-materialize Job's command; then the operator's deploy of serveConfigV2 through the dashboard's REST
API. The platform must answer ready, classify and chat through each worker's port 8000, with the admin key of
the overlay's Secret. `make test-image` (about 10 minutes with the build; not in `make test`'s budget)."""

import json
import shutil
import subprocess
import tomllib
import uuid

import httpx
import pytest

from serve_app.cluster import network
from serve_app.common.settings import REPO_ROOT
from testkit import kuberay
from testkit.faults import CALLS
from testkit.polling import NotYet, eventually

pytestmark = pytest.mark.image

PROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
IMAGE = f"localhost/{PROJECT['name']}:{PROJECT['version']}"
# Pods by role, each a host on the bridge; the names the manifests use for the Services in front of them.
PODS = {"redis": 40, "gcs-redis": 41, "head": 42, "worker-1": 43, "worker-2": 44}
SERVICES = {"platform-redis": "redis", "platform-gcs-redis": "gcs-redis", "platform-head-svc": "head"}
READY_TIMEOUT_S = 900


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs", *args],
                          capture_output=True, text=True, check=check, timeout=timeout)


class Pods:
    """Containers of the image, one per pod, each in its own namespace; removed with their namespaces."""

    def __init__(self, tag: str, documents: list[dict], tmp):
        self.tag, self.documents, self.tmp = tag, documents, tmp
        self.hosts = {role: network.create_host(index) for role, index in PODS.items()}
        self.ip = {role: network.host_ip(index) for role, index in PODS.items()}

    def run(self, role: str, command: list[str], env: dict[str, str], mounts: dict[str, str] | None = None,
            detach: bool = True, shm: str = "64m") -> subprocess.CompletedProcess:
        mounts = mounts or {}
        hosts = [f"--add-host={name}:{self.ip[target]}" for name, target in SERVICES.items()]
        volumes = [f"--volume={source}:{target}:ro" for source, target in mounts.items()]
        # As a kubelet runs a pod: no pids cap, containerd's open-files limit (KubeRay's `ulimit -n 65536` needs
        # a hard limit above it), /dev/shm sized for Ray's object store (KubeRay mounts a memory emptyDir).
        return podman("run", *(["-d"] if detach else ["--rm"]), f"--name=sf-{self.tag}-{role}",
                      f"--hostname={role}", f"--network=ns:/run/netns/{self.hosts[role]}", f"--shm-size={shm}",
                      "--pids-limit=-1", "--ulimit=nofile=1048576:1048576",
                      *hosts, *volumes, *(f"--env={k}={v}" for k, v in env.items()), IMAGE, *command,
                      timeout=600)

    def wait_until(self, url: str, timeout_s: float, what: str) -> None:
        """`url` answers 200 within the time, else the failure shows the Ray pods' last lines."""
        try:
            eventually(lambda: _answers(url), timeout_s, 2, what)
        except NotYet as error:
            logs = {role: podman("logs", "--tail", "30", f"sf-{self.tag}-{role}", check=False)
                    for role in ("head", "worker-1", "worker-2")}
            raise NotYet(f"{error}\n" + "\n".join(f"--- {role}:\n{done.stdout}{done.stderr}"
                                                 for role, done in logs.items())) from None

    def remove(self) -> None:
        for role in PODS:
            podman("rm", "-f", "-t", "5", f"sf-{self.tag}-{role}", check=False)
        network.remove(list(self.hosts.values()))


def _deployment(documents: list[dict], name: str) -> dict:
    (found,) = [d for d in documents if d["kind"] == "Deployment" and d["metadata"]["name"] == name]
    return found["spec"]["template"]["spec"]["containers"][0]


def _redis_command(container: dict, documents: list[dict]) -> list[str]:
    env = kuberay.container_env(container, documents)
    return container["command"] + [env.get(arg[2:-1], arg) if arg.startswith("$(") else arg
                                   for arg in container["args"]]


@pytest.fixture(scope="module")
def pods(tmp_path_factory):
    if shutil.which("podman") is None or podman("image", "exists", IMAGE, check=False).returncode != 0:
        pytest.skip(reason=f"no image {IMAGE} in the container storage: `make test-image` builds it first")
    if network.bridge_exists():
        pytest.skip(reason=f"the bridge {network.BRIDGE} is up (`make cluster`?): bring it down first")
    network.create_bridge()
    pods = Pods(uuid.uuid4().hex[:6], kuberay.kustomize(REPO_ROOT / "k8s" / "local"), tmp_path_factory.mktemp("pods"))
    try:
        yield pods
    finally:
        pods.remove()


@pytest.fixture(scope="module")
def started(pods):
    """Redis, the head, the Job, the workers, then the deploy, as the operator orders them; the head's token."""
    documents, tmp = pods.documents, pods.tmp
    for role, name in (("redis", "platform-redis"), ("gcs-redis", "platform-gcs-redis")):
        container = _deployment(documents, name)
        (tmp / role).mkdir()
        pods.run(role, _redis_command(container, documents), {}, {str(tmp / role): "/data"})
    (service,) = [d for d in documents if d["kind"] == "RayService"]
    cluster = service["spec"]["rayClusterConfig"]
    admin_key = kuberay.container_env({"env": [{"name": "k", "valueFrom": {"secretKeyRef": {
        "name": "platform-admin-key", "key": "api-key"}}}]}, documents)["k"]
    (tmp / "api-key").write_text(admin_key)
    token, address = uuid.uuid4().hex, f"platform-head-svc:{kuberay.GCS_PORT}"
    head_group = kuberay.head_params(cluster)
    head = head_group["template"]["spec"]["containers"][0]
    command = kuberay.ray_start_command(head_group, head=True, head_address=address, login_shell=True)
    env = kuberay.container_env(head, documents) | kuberay.operator_env(cluster, "headgroup", True, address,
                                                                        command[-1], token, documents)
    (mount,) = head["volumeMounts"]
    pods.run("head", command, env, {str(tmp / "api-key"): f"{mount['mountPath']}/api-key"}, shm="512m")
    dashboard = f"http://{pods.ip['head']}:{kuberay.DASHBOARD_PORT}"
    pods.wait_until(f"{dashboard}/api/version", 180, "the head's dashboard")

    job = [d for d in documents if d["kind"] == "Job"][0]["spec"]["template"]["spec"]["containers"][0]
    pods.run("worker-1", job["command"], kuberay.container_env(job, documents), detach=False)
    podman("rm", "-f", f"sf-{pods.tag}-worker-1", check=False)  # the Job's pod is gone; worker-1 takes its host

    (group,) = cluster["workerGroupSpecs"]
    worker = group["template"]["spec"]["containers"][0]
    command = kuberay.ray_start_command(group, head=False, head_address=address, login_shell=True)
    env = kuberay.container_env(worker, documents) | kuberay.operator_env(cluster, group["groupName"], False,
                                                                          address, command[-1], token, documents)
    for role in ("worker-1", "worker-2"):
        pods.run(role, command, env, shm="2g")
    kuberay.deploy_serve_config(dashboard, service, token)
    return {"admin_key": admin_key, "head_command": json.dumps(head_group["rayStartParams"]),
            "workers": [f"http://{pods.ip[role]}:8000" for role in ("worker-1", "worker-2")]}


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def test_ray_and_python_are_on_the_path_of_any_shell():
    for shell in ("-c", "-lc"):
        found = podman("run", "--rm", "--network=none", IMAGE, "/bin/bash", shell, "command -v ray && python --version",
                       check=False)
        assert found.returncode == 0 and "Python 3.11" in found.stdout, (shell, found.stdout, found.stderr)


def test_the_platform_in_the_image_answers_as_kuberay_starts_it(pods, started):
    assert '"num-cpus": "0"' in started["head_command"]  # base's head, read from the manifests
    for url in started["workers"]:
        pods.wait_until(f"{url}/health/ready", READY_TIMEOUT_S, f"{url} ready")
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {started['admin_key']}"},
                          timeout=120) as http:
            answers = {kind: http.post(path, json=body) for kind, (path, body) in CALLS.items()}
            for kind, answer in answers.items():
                assert answer.status_code == 200, (url, kind, answer.text[:300])
            assert answers["classify"].json()["label"] and answers["recommend"].json()["items"]
            assert answers["chat"].json()["choices"][0]["message"]["content"]
