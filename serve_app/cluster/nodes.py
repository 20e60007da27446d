"""The processes of a cluster's hosts: Redis on the bridge, a Ray node in each host's namespace (the head with
`num-cpus: 0` and GCS fault tolerance on that Redis, as k8s/base's RayService starts it), and the ways a host
goes away (killed, drained) or comes back."""

import logging
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import httpx
import redis

from serve_app.cluster import network
from serve_app.cluster.state import DASHBOARD_PORT, GCS_PORT, ClusterState, Host

logger = logging.getLogger(__name__)

RAY = str(Path(sys.executable).parent / "ray")
# Each node's share of /dev/shm (Ray's default, 30% of memory per node, would not fit several on one machine).
OBJECT_STORE_BYTES = 512 * 1024**2
# Where GCS keeps the cluster's tables in Redis (KubeRay names it after the RayCluster).
STORAGE_NAMESPACE = "platform"
POLL_S = 0.5


# The platform's Redis (keys, limits, jobs, features) and the one GCS keeps the cluster's tables in: apart, because
# the GCS exits when its Redis connection breaks, so a restart of a shared one would take the head down with it.
PLATFORM_REDIS_PORT, GCS_REDIS_PORT = 6379, 6380


def redis_url(password: str) -> str:
    return f"redis://:{quote(password)}@{network.GATEWAY}:{PLATFORM_REDIS_PORT}/0"


def start_redis(data_dir: Path, password: str, port: int = PLATFORM_REDIS_PORT, maxmemory: str = "1gb") -> int:
    """redis-server on the bridge's address, password set, append-only (queued jobs outlive a restart), never
    evicting; returns its pid."""
    data_dir.mkdir(parents=True, exist_ok=True)
    pidfile = data_dir / "redis.pid"
    pidfile.unlink(missing_ok=True)
    subprocess.run(["redis-server", "--bind", network.GATEWAY, "--port", str(port), "--requirepass", password,
                    "--dir", str(data_dir), "--logfile", str(data_dir / "redis.log"), "--appendonly", "yes",
                    "--maxmemory", maxmemory, "--maxmemory-policy", "noeviction", "--daemonize", "yes",
                    "--pidfile", str(pidfile)], check=True)
    _wait(lambda: pidfile.exists() and _redis_answers(password, port), 20, f"Redis on the bridge, port {port}")
    return int(pidfile.read_text())


def _redis_answers(password: str, port: int) -> bool:
    try:
        return redis.Redis(host=network.GATEWAY, port=port, password=password, socket_timeout=1).ping()
    except redis.RedisError:
        return False


def redis_password(url: str) -> str:
    return unquote(urlsplit(url).password or "")


def temp_dir(netns: str) -> Path:
    """A node's Ray temp dir: its sessions, logs and sockets."""
    return Path(f"/tmp/{netns}")


def start_node(state: ClusterState, host: Host, env: dict[str, str]) -> None:
    """`ray start` in the host's namespace, on its own address and its own temp dir."""
    if host.role == "head":
        # `ray start --head` refuses an address it last started on while a raylet on this machine names it,
        # and every worker's does: the namespaces share one process table. That head is dead; forget it.
        (temp_dir(host.netns) / "ray_current_cluster").unlink(missing_ok=True)
    args = ["--node-ip-address", host.ip, "--temp-dir", str(temp_dir(host.netns)), "--disable-usage-stats",
            "--object-store-memory", str(OBJECT_STORE_BYTES)]
    if host.role == "head":
        args += ["--head", "--port", str(GCS_PORT), "--num-cpus", "0", "--dashboard-host", "0.0.0.0",
                 "--dashboard-port", str(DASHBOARD_PORT), "--redis-password", redis_password(state.redis_url)]
        env = {**env, "RAY_REDIS_ADDRESS": f"{network.GATEWAY}:{GCS_REDIS_PORT}",
               "RAY_external_storage_namespace": STORAGE_NAMESPACE}
    else:
        args += ["--address", state.gcs_address, "--num-cpus", str(state.worker_cpus)]
    # A session of its own: a signal to whoever ran the tool (Ctrl-C, a test's timeout) does not reach the node.
    started = subprocess.run(network.in_host(host.netns, [RAY, "start", *args]), env=env, capture_output=True,
                             text=True, timeout=180, start_new_session=True)
    if started.returncode != 0:
        raise RuntimeError(f"ray start on {host.name} failed:\n{started.stdout[-2000:]}{started.stderr[-2000:]}")


def node_id(state: ClusterState, host: Host) -> str | None:
    """The Ray node id of the host's live node, from the dashboard's state API."""
    from ray.util.state import list_nodes

    nodes = list_nodes(address=state.dashboard_url, filters=[("state", "=", "ALIVE")], raise_on_missing_output=False)
    return next((node.node_id for node in nodes if node.node_ip == host.ip), None)


def replicas_on(state: ClusterState, host: Host) -> int:
    """Serve replicas (not proxies) on the host in any state, as Serve's controller reports them: one waiting for
    its replacement elsewhere (PENDING_MIGRATION) or finishing its requests (STOPPING) still serves."""
    from serve_app.ops.local_cluster import serve_client

    applications = serve_client(state.dashboard_url).get_serve_details()["applications"]
    return sum(replica.get("node_ip") == host.ip
               for application in applications.values() for deployment in application["deployments"].values()
               for replica in deployment["replicas"])


def drain(state: ClusterState, host: Host, env: dict[str, str], deadline_s: int) -> float:
    """A preemption with notice: Ray's node drain (what KubeRay's autoscaler and a cloud's preemption notice
    send), so Serve starts the host's replicas elsewhere and stops these once the new ones run; then, once the
    host runs no replica or the deadline passed, it stops. Returns how long the host took to empty."""
    target = node_id(state, host)
    if target is None:
        raise RuntimeError(f"{host.name} has no live Ray node")
    subprocess.run([RAY, "drain-node", "--address", state.gcs_address, "--node-id", target,
                    "--reason", "DRAIN_NODE_REASON_PREEMPTION", "--reason-message", "serve_app.cluster drain",
                    "--deadline-remaining-seconds", str(deadline_s)], env=env, check=True, capture_output=True,
                   timeout=60)
    began = time.monotonic()
    _wait(lambda: replicas_on(state, host) == 0, deadline_s, f"{host.name} emptied", give_up=False)
    emptied = time.monotonic() - began
    network.kill_host(host.netns)
    return emptied


def wait_ready(hosts: list[Host], timeout_s: float) -> None:
    """Every host's proxy answers /health/ready 200."""
    for host in hosts:
        _wait(lambda host=host: answers_ready(host), timeout_s, f"{host.name} ready")


def answers_ready(host: Host) -> bool:
    try:
        return httpx.get(f"{host.http}/health/ready", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def wait_dashboard(state: ClusterState, timeout_s: float) -> None:
    def answers() -> bool:
        try:
            return httpx.get(f"{state.dashboard_url}/api/version", timeout=5).status_code < 500
        except httpx.HTTPError:
            return False

    _wait(answers, timeout_s, "the head's dashboard")


def _wait(condition, timeout_s: float, what: str, give_up: bool = True) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(POLL_S)
    if give_up:
        raise TimeoutError(f"{what}: not after {timeout_s:.0f} s")
    logger.warning("%s: not after %.0f s", what, timeout_s)
    return False
