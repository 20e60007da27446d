"""What the cluster tool does to the cluster (serve_app/cluster/__main__.py is its command line): bring it up with
the platform deployed, restart its head or its Redis, read its status, take it down."""

import base64
import contextlib
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from serve_app.cluster import network, nodes
from serve_app.cluster.settings import for_cluster, node_env
from serve_app.cluster.state import STATE_FILE, ClusterState, Host
from serve_app.common.settings import REPO_ROOT, PlatformSettings
from serve_app.keys import open_key_store, split_key
from serve_app.keys.store import RedisKeyStore
from serve_app.ops.local_cluster import LocalPlatform, admin_key
from serve_app.ops.local_cluster import deploy as serve_deploy

logger = logging.getLogger("serve_app.cluster")
DATA_DIR = REPO_ROOT / ".data" / "cluster"
READY_TIMEOUT_S = 900


def _paths() -> dict[str, str]:
    """Where every node finds the artifacts and the HAProxy wrapper: this checkout, which every host shares."""
    return {"PLATFORM_ARTIFACTS_DIR": str(PlatformSettings().artifacts_dir),
            "RAY_SERVE_HAPROXY_BINARY_PATH": str(Path(sys.executable).parent / "platform-haproxy")}


def env_for(state: ClusterState) -> dict[str, str]:
    """The environment its nodes start with."""
    return node_env(state.redis_url, _paths(), state.env)


def _share_admin_key(redis_url: str) -> None:
    """The admin key of .data/api-key (made as `make run` makes it) registered in the cluster's key store."""
    key = admin_key()
    settings = PlatformSettings()
    record = open_key_store(settings.key_store, settings.keys_file, settings.redis_url).all()[split_key(key)]
    RedisKeyStore(redis_url).put(record)


def _fill_online_store(env: dict[str, str]) -> None:
    """Every feature row into the cluster's Redis, whatever the registry recorded of runs elsewhere."""
    subprocess.run([sys.executable, "-m", "serve_app.artifacts.materialize", "--online-store", "redis", "--all"],
                   env=env, check=True, capture_output=True, timeout=300)


def up(hosts: int, worker_cpus: int, config_path: Path, extra_env: dict[str, str]) -> ClusterState:
    if network.bridge_exists() or network.namespaces() or STATE_FILE.exists() or DATA_DIR.exists():
        raise SystemExit("a cluster is up already (or its remains): `python -m serve_app.cluster down` first")
    if hosts < 2:
        raise SystemExit("--hosts: 2 at least (the head and a worker)")
    network.create_bridge()
    members = [Host.make(f"h{i}", network.create_host(i), network.host_ip(i), "head" if i == 0 else "worker")
               for i in range(hosts)]
    password = secrets.token_urlsafe(24)
    pid = nodes.start_redis(DATA_DIR / "redis", password)
    gcs_pid = nodes.start_redis(DATA_DIR / "gcs-redis", password, nodes.GCS_REDIS_PORT)
    # One job-data key for every host (k8s/: the job-data-key Secret): a job sealed on one replays on another.
    extra_env = {"PLATFORM_JOBS_DATA_KEY": base64.b64encode(secrets.token_bytes(32)).decode(), **extra_env}
    state = ClusterState(members, nodes.redis_url(password), pid, gcs_pid, worker_cpus, extra_env)
    state.write()  # from here on `down` finds what to remove
    logger.info("hosts %s; Redis (platform, GCS) on %s", ", ".join(f"{h.name}={h.ip}" for h in members),
                network.GATEWAY)
    _share_admin_key(state.redis_url)
    env = env_for(state)
    nodes.start_node(state, state.head, env)
    nodes.wait_dashboard(state, 120)
    for worker in state.workers:
        nodes.start_node(state, worker, env)
    logger.info("Ray up: head %s, %d workers; filling the online store", state.gcs_address, len(state.workers))
    _fill_online_store(env)
    deploy(state, config_path)
    return state


def deploy(state: ClusterState, config_path: Path) -> None:
    """The config as a multi-host cluster runs it, deployed through the head's dashboard (`serve deploy`),
    then every host's proxy ready."""
    config = for_cluster(yaml.safe_load(config_path.read_text()), ingress_replicas=len(state.workers))
    started = time.monotonic()
    serve_deploy(LocalPlatform(state.head.http, state.dashboard_url, DATA_DIR), config, READY_TIMEOUT_S)
    nodes.wait_ready(state.hosts, READY_TIMEOUT_S)
    logger.info("platform ready on every host after %.0f s", time.monotonic() - started)


def restart_head(state: ClusterState) -> float:
    """Seconds until the head's proxy answers ready again."""
    struck = time.monotonic()
    network.kill_host(state.head.netns)
    nodes.start_node(state, state.head, env_for(state))
    nodes.wait_dashboard(state, 120)
    nodes.wait_ready([state.head], READY_TIMEOUT_S)
    return time.monotonic() - struck


def _gone(pid: int) -> bool:
    """No such process, or a zombie (nobody here may reap a daemon's)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except (FileNotFoundError, ProcessLookupError):
        return True


def restart_redis(state: ClusterState) -> ClusterState:
    """The platform's Redis killed and started again on its data (append-only: what it held comes back)."""
    with_password = nodes.redis_password(state.redis_url)
    os.kill(state.redis_pid, signal.SIGKILL)
    while not _gone(state.redis_pid):
        time.sleep(0.05)
    state.redis_pid = nodes.start_redis(DATA_DIR / "redis", with_password)
    state.write()
    return state


def status(state: ClusterState) -> list[dict]:
    rows = []
    for host in state.hosts:
        try:
            ready = httpx.get(f"{host.http}/health/ready", timeout=3).json().get("status")
        except (httpx.HTTPError, ValueError):
            ready = "unreachable"
        rows.append({"name": host.name, "role": host.role, "ip": host.ip, "processes": len(network.pids(host.netns)),
                     "ready": ready})
    return rows


def down() -> None:
    names = network.namespaces()
    if STATE_FILE.exists():
        names = sorted(set(names) | {host.netns for host in ClusterState.read().hosts})
    for pidfile in DATA_DIR.glob("*/redis.pid"):  # both Redis servers, even from an `up` that failed early
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
    network.remove(names)
    for name in names:
        shutil.rmtree(nodes.temp_dir(name), ignore_errors=True)
    # Redis's data too: a new cluster's head would otherwise recover this one's GCS tables (GCS fault
    # tolerance), its Serve applications among them, and its job queue.
    shutil.rmtree(DATA_DIR, ignore_errors=True)
    STATE_FILE.unlink(missing_ok=True)
