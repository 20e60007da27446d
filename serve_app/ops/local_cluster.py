"""Start a private local Ray cluster and deploy a Serve config on it through the dashboard's REST API, as
`serve deploy` does; `make run` (serve_app/ops/run.py) and the benchmarks run the real platform this way."""

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import yaml

from serve_app.common.settings import APP_NAME, REPO_ROOT, PlatformSettings
from serve_app.keys import ensure_admin_key, open_key_store

POLL_S = 0.25


@dataclass(frozen=True)
class LocalPlatform:
    base_url: str
    dashboard_url: str
    session_dir: Path
    # The admin key (the one `make run` makes): what clients of the platform send.
    api_key: str = ""
    # host:port of the KServe V2 gRPC service (tritonclient.grpc's url).
    grpc_url: str = ""
    # host:port of the cluster's GCS: `ray.init(address=...)` joins it as another driver.
    gcs_address: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def write(self, path: Path) -> None:
        path.write_text(json.dumps({**asdict(self), "session_dir": str(self.session_dir)}))

    @classmethod
    def read(cls, path: Path) -> "LocalPlatform":
        fields = json.loads(path.read_text())
        return cls(**{**fields, "session_dir": Path(fields["session_dir"])})


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


def serve_client(dashboard_url: str):
    """The dashboard's Serve REST client: what `serve deploy` and `serve status` talk to."""
    from ray.dashboard.modules.serve.sdk import ServeSubmissionClient

    return ServeSubmissionClient(dashboard_url)


def app_status(dashboard_url: str, app_name: str = APP_NAME) -> dict:
    """The application's entry of the dashboard's Serve details (`serve status` reads the same)."""
    return serve_client(dashboard_url).get_serve_details()["applications"].get(app_name, {})


def deploy(platform: LocalPlatform, config: Path | dict, timeout_s: float = 600) -> None:
    """Deploy the config through the dashboard's REST API (what `serve deploy` sends), then wait until this
    deployment (not the previous one) is RUNNING and the platform answers ready."""
    from ray.serve.schema import ServeDeploySchema

    if isinstance(config, Path):
        config = yaml.safe_load(config.read_text())
    client = serve_client(platform.dashboard_url)
    before = client.get_serve_details()["applications"].get(APP_NAME, {}).get("last_deployed_time_s")
    client.deploy_applications(ServeDeploySchema.model_validate(config).model_dump(exclude_unset=True))
    deadline = time.monotonic() + timeout_s
    while True:
        status = client.get_serve_details()["applications"].get(APP_NAME, {})
        if status.get("last_deployed_time_s") != before and status.get("status") == "RUNNING":
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"not RUNNING after {timeout_s}s: {status.get('status')} {status.get('message')}")
        time.sleep(POLL_S)
    wait_ready(platform.base_url, max(deadline - time.monotonic(), 1))


def wait_ready(base_url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            answer = httpx.get(f"{base_url}/health/ready", timeout=5)
            if answer.status_code == 200 and answer.json()["status"] == "ready":  # not "degraded"
                return
        time.sleep(POLL_S)
    raise TimeoutError(f"{base_url} not ready after {timeout_s}s")


def own_ports_env() -> dict[str, str]:
    """Environment that moves HAProxy's stats and metrics ports (8404, 9101) and the Ingress replicas' own ports
    (30000+, 40000+) off their fixed defaults. Serve does not look whether another cluster holds them, so two
    platforms on one machine (a test's beside a user's) set these apart; Ray's workers inherit them."""
    offset = 2000 + os.getpid() % 60 * 100
    env = {"RAY_SERVE_HAPROXY_STATS_PORT": str(free_port()), "RAY_SERVE_HAPROXY_METRICS_PORT": str(free_port())}
    for protocol, base in (("HTTP", 30000), ("GRPC", 40000)):
        env[f"RAY_SERVE_DIRECT_INGRESS_MIN_{protocol}_PORT"] = str(base + offset)
        env[f"RAY_SERVE_DIRECT_INGRESS_MAX_{protocol}_PORT"] = str(base + offset + 99)
    return env


@contextlib.contextmanager
def local_platform(config_path: Path = REPO_ROOT / "serve_config.yaml", num_cpus: int | None = 2,
                   ready_timeout_s: float = 600, free_ports: bool = True, dashboard_port: int = 8265,
                   on_cluster: Callable[[], None] | None = None) -> Iterator[LocalPlatform]:
    """A fresh cluster owned by the caller (never someone else's), the config deployed on free ports (or
    its own). `num_cpus` None: the machine's. `on_cluster` runs once Ray is up, before the deploy."""
    import ray
    from ray import serve

    config = yaml.safe_load(config_path.read_text())
    if free_ports:
        config["http_options"]["port"], config["grpc_options"]["port"] = free_port(), free_port()
        dashboard_port = free_port()
        for variable, value in own_ports_env().items():
            os.environ.setdefault(variable, value)
    port, grpc_port = config["http_options"]["port"], config["grpc_options"]["port"]
    # Metrics reach the Prometheus endpoint every second instead of every ten, so checks see them soon.
    context = ray.init(address="local", num_cpus=num_cpus, include_dashboard=True,
                       dashboard_host="127.0.0.1", dashboard_port=dashboard_port,
                       _system_config={"metrics_report_interval_ms": 1000})
    try:
        if on_cluster is not None:
            on_cluster()
        session_dir = Path(context.address_info["session_dir"])
        deployed = session_dir / "serve_config.yaml"
        deployed.write_text(yaml.safe_dump(config))
        platform = LocalPlatform(f"http://127.0.0.1:{port}", f"http://{context.dashboard_url}", session_dir,
                                 admin_key(), f"127.0.0.1:{grpc_port}", context.address_info["gcs_address"])
        deploy(platform, deployed, ready_timeout_s)
        yield platform
    finally:
        serve.shutdown()
        ray.shutdown()
