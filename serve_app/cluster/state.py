"""What `python -m serve_app.cluster up` made, in .data/cluster.json (0600: the Redis URL holds its password):
the hosts with their addresses, for users and tests, and what `down` removes."""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from serve_app.common.settings import REPO_ROOT
from serve_app.keys.store import write_private

STATE_FILE = REPO_ROOT / ".data" / "cluster.json"
GCS_PORT = 6379
DASHBOARD_PORT = 8265
HTTP_PORT = 8000
GRPC_PORT = 9000


@dataclass(frozen=True)
class Host:
    name: str
    netns: str
    ip: str
    role: str  # "head" | "worker"
    http: str
    grpc: str

    @classmethod
    def make(cls, name: str, netns: str, ip: str, role: str) -> "Host":
        return cls(name, netns, ip, role, f"http://{ip}:{HTTP_PORT}", f"{ip}:{GRPC_PORT}")


@dataclass
class ClusterState:
    hosts: list[Host]
    redis_url: str
    redis_pid: int
    gcs_redis_pid: int
    # ray start's resources per worker host, and the extra environment every node got (`up --env`).
    worker_cpus: int
    env: dict[str, str] = field(default_factory=dict)

    @property
    def head(self) -> Host:
        return next(host for host in self.hosts if host.role == "head")

    @property
    def workers(self) -> list[Host]:
        return [host for host in self.hosts if host.role == "worker"]

    @property
    def gcs_address(self) -> str:
        return f"{self.head.ip}:{GCS_PORT}"

    @property
    def dashboard_url(self) -> str:
        return f"http://{self.head.ip}:{DASHBOARD_PORT}"

    def host(self, name: str) -> Host:
        """A host by its name (h1), namespace (sfc-h1) or address."""
        for host in self.hosts:
            if name in (host.name, host.netns, host.ip):
                return host
        raise KeyError(f"no host {name!r}: {', '.join(host.name for host in self.hosts)}")

    def write(self, path: Path = STATE_FILE) -> None:
        write_private(path, json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, path: Path = STATE_FILE) -> "ClusterState":
        fields = json.loads(path.read_text())
        return cls(**{**fields, "hosts": [Host(**host) for host in fields["hosts"]]})
