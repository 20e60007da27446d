"""Start a private local Ray cluster and deploy serve_config.yaml on it, as a user would with
`serve deploy`; used by the test suite and the benchmarks so both run the real platform."""

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from serve_app.common.settings import REPO_ROOT, PlatformSettings
from serve_app.keys import ensure_admin_key, open_key_store

SERVE_CLI = str(Path(sys.executable).parent / "serve")
APP_NAME = "platform"  # the application's name in serve_config.yaml


@dataclass(frozen=True)
class LocalPlatform:
    base_url: str
    dashboard_url: str
    session_dir: Path
    # The admin key (the one `make run` makes): what clients of the platform send.
    api_key: str = ""
    # host:port of the KServe V2 gRPC service (tritonclient.grpc's url).
    grpc_url: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def admin_key() -> str:
    """The admin API key, created as `make run` creates it when there is none yet."""
    settings = PlatformSettings()
    return ensure_admin_key(open_key_store(settings.key_store, settings.keys_file, settings.redis_url),
                            settings.admin_key_file)


def admin_headers() -> dict[str, str]:
    """What a client of the local platform sends: the admin key (baseline servers ignore it)."""
    return {"Authorization": f"Bearer {admin_key()}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_cli(*args: str, timeout: float = 120) -> str:
    return subprocess.run([SERVE_CLI, *args], check=True, capture_output=True, text=True,
                          timeout=timeout).stdout


def app_status(dashboard_url: str, app_name: str = APP_NAME) -> dict:
    return yaml.safe_load(serve_cli("status", "--address", dashboard_url))["applications"].get(app_name, {})


def deploy(platform: LocalPlatform, config_path: Path, timeout_s: float = 600) -> None:
    """`serve deploy` the config, then wait until this deployment (not the previous one) is RUNNING and ready."""
    before = app_status(platform.dashboard_url).get("last_deployed_time_s")
    serve_cli("deploy", str(config_path), "--address", platform.dashboard_url)
    deadline = time.monotonic() + timeout_s
    while True:
        status = app_status(platform.dashboard_url)
        if status.get("last_deployed_time_s") != before and status.get("status") == "RUNNING":
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"not RUNNING after {timeout_s}s: {status}")
        time.sleep(1)
    wait_ready(platform.base_url, timeout_s)


def wait_ready(base_url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            answer = httpx.get(f"{base_url}/health/ready", timeout=5)
            if answer.status_code == 200 and answer.json()["status"] == "ready":  # not "degraded"
                return
        time.sleep(2)
    raise TimeoutError(f"{base_url} not ready after {timeout_s}s")


@contextlib.contextmanager
def local_platform(config_path: Path = REPO_ROOT / "serve_config.yaml", num_cpus: int | None = 2,
                   ready_timeout_s: float = 600, free_ports: bool = True,
                   on_cluster: Callable[[], None] | None = None) -> Iterator[LocalPlatform]:
    """A fresh cluster owned by the caller (never someone else's), the config deployed on free ports (or
    its own). `num_cpus` None: the machine's. `on_cluster` runs once Ray is up, before the deploy."""
    import ray
    from ray import serve

    config = yaml.safe_load(config_path.read_text())
    if free_ports:
        config["http_options"]["port"], config["grpc_options"]["port"] = free_port(), free_port()
        # HAProxy's stats and metrics ports (8404, 9101) and the Ingress replicas' own ports (30000+, 40000+)
        # are fixed by default, and Serve does not look whether another cluster holds them: moved, so two
        # platforms on one machine (a test's beside a user's) stay apart. Ray's workers inherit the environment.
        for variable in ("RAY_SERVE_HAPROXY_STATS_PORT", "RAY_SERVE_HAPROXY_METRICS_PORT"):
            os.environ.setdefault(variable, str(free_port()))
        offset = 2000 + os.getpid() % 60 * 100
        for protocol, base in (("HTTP", 30000), ("GRPC", 40000)):
            os.environ.setdefault(f"RAY_SERVE_DIRECT_INGRESS_MIN_{protocol}_PORT", str(base + offset))
            os.environ.setdefault(f"RAY_SERVE_DIRECT_INGRESS_MAX_{protocol}_PORT", str(base + offset + 99))
    port, grpc_port = config["http_options"]["port"], config["grpc_options"]["port"]
    # Metrics reach the Prometheus endpoint every second instead of every ten, so checks see them soon.
    context = ray.init(address="local", num_cpus=num_cpus, include_dashboard=True,
                       dashboard_host="127.0.0.1", dashboard_port=free_port() if free_ports else 8265,
                       _system_config={"metrics_report_interval_ms": 1000})
    try:
        if on_cluster is not None:
            on_cluster()
        session_dir = Path(context.address_info["session_dir"])
        deployed = session_dir / "serve_config.yaml"
        deployed.write_text(yaml.safe_dump(config))
        platform = LocalPlatform(f"http://127.0.0.1:{port}", f"http://{context.dashboard_url}", session_dir,
                                 admin_key(), f"127.0.0.1:{grpc_port}")
        deploy(platform, deployed, ready_timeout_s)
        yield platform
    finally:
        serve.shutdown()
        ray.shutdown()


def user_config_change(deployment: str, **changes) -> dict:
    """{"user_config": ...}: the deployment's user_config in serve_config.yaml with `changes` merged in,
    as a `reconfigured` change."""
    config = yaml.safe_load((REPO_ROOT / "serve_config.yaml").read_text())
    (entry,) = [d for d in config["applications"][0]["deployments"] if d["name"] == deployment]
    return {"user_config": {**entry["user_config"], **changes}}


@contextlib.contextmanager
def reconfigured(platform: LocalPlatform, changes: dict[str, dict], args: dict | None = None,
                 base: Path | None = None, runtime_env: dict | None = None) -> Iterator[Path]:
    """Redeploy `base` (the platform's config by default) with fields of some deployments replaced
    ({"LLMServer": {"user_config": ...}}), builder `args` merged in (a mapping, such as `models` or
    `graphs`, entry by entry) and the application's `runtime_env` set; deploy `base` again on exit.
    Yields the changed config's path, the base of a nested change."""
    base = base or platform.session_dir / "serve_config.yaml"
    config = yaml.safe_load(base.read_text())
    application = config["applications"][0]
    merged = application.setdefault("args", {})
    for key, value in (args or {}).items():
        merged[key] = {**merged[key], **value} if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    if runtime_env is not None:
        application["runtime_env"] = runtime_env
    entries = {entry["name"]: entry for entry in application["deployments"]}
    for name, fields in changes.items():
        if name not in entries:  # a deployment the args add (a FaultInjector, say)
            application["deployments"].append(entries.setdefault(name, {"name": name}))
        entries[name].update(fields)
    changed = base.with_name(f"{base.stem}.{uuid.uuid4().hex[:8]}.yaml")
    changed.write_text(yaml.safe_dump(config))
    # Engines are already loaded: a redeploy that is not RUNNING within minutes will not become so.
    deploy(platform, changed, timeout_s=180)
    try:
        yield changed
    finally:
        deploy(platform, base, timeout_s=180)
