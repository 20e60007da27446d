"""The platform a test run uses, started once the way users start it (`python -m serve_app.ops.run`, what
`make run` runs) on the test configuration (testkit/config.py), and the ways a test changes it for a while."""

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from serve_app.common.settings import REPO_ROOT
from serve_app.ops.local_cluster import LocalPlatform, deploy, free_port, own_ports_env
from testkit.config import HAPROXY_ENV, JOB_ENV, new_queue_name, platform_config
from testkit.polling import GiveUp, eventually

SERVE_CLI = str(Path(sys.executable).parent / "serve")
START_TIMEOUT_S = 600
# A drain waits this long at most for what the platform holds (production 65 s).
DRAIN_TIMEOUT_S = 30
# CPUs Ray schedules against, twice the machine's two: a test that adds replicas (a rolling update, two Ingress
# replicas) finds room beside what earlier tests scaled up, instead of waiting for their downscale delay.
SCHEDULED_CPUS = 4


@dataclass
class RunningPlatform:
    """The test platform's process and addresses; `queue` is this run's job queue."""

    process: subprocess.Popen
    platform: LocalPlatform
    queue: str
    log: Path


def _environment(queue: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    env.update(**own_ports_env(), **JOB_ENV, **HAPROXY_ENV, PLATFORM_JOBS_QUEUE_NAME=queue,
               PLATFORM_DRAIN_TIMEOUT_S=str(DRAIN_TIMEOUT_S))
    return env


def _log_tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def running_platform(workdir: Path) -> Iterator[RunningPlatform]:
    """`python -m serve_app.ops.run` on the test configuration, ready; this process joins its Ray cluster as a
    driver (for deployment handles). On exit the platform gets SIGTERM (a drain) unless a test stopped it."""
    import ray

    config, state, log = workdir / "serve_config.test.yaml", workdir / "platform.json", workdir / "run.log"
    config.write_text(yaml.safe_dump(platform_config(free_port(), free_port())))
    queue = new_queue_name()
    command = [sys.executable, "-m", "serve_app.ops.run", str(config), "--dashboard-port", str(free_port()),
               "--num-cpus", str(SCHEDULED_CPUS), "--state-file", str(state)]
    with log.open("w") as output:
        process = subprocess.Popen(command, env=_environment(queue), cwd=REPO_ROOT, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)

    def started() -> bool:
        if process.poll() is not None:
            raise GiveUp(f"the platform exited ({process.returncode}):\n{_log_tail(log)}")
        return state.exists()

    try:
        eventually(started, START_TIMEOUT_S, interval_s=0.5, what="the test platform ready")
        platform = LocalPlatform.read(state)
        ray.init(address=platform.gcs_address, logging_level="WARNING")
        yield RunningPlatform(process, platform, queue, log)
    finally:
        stop(process)
        if ray.is_initialized():
            ray.shutdown()


def stop(process: subprocess.Popen, wait_s: float = DRAIN_TIMEOUT_S + 60) -> int | None:
    """SIGTERM (a drain, then exit), SIGKILL of its process group when it takes longer; its exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(wait_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode


def serve_cli(*args: str, timeout: float = 120) -> str:
    """The `serve` CLI, for tests of the CLI itself."""
    return subprocess.run([SERVE_CLI, *args], check=True, capture_output=True, text=True, timeout=timeout).stdout


def user_config_change(**changes) -> dict:
    """{"user_config": changes}: `reconfigured` merges them over the deployment's user_config, key by key."""
    return {"user_config": changes}


def changed_config(base: Path, changes: dict[str, dict]) -> Path:
    """A copy of the config at `base` with fields of some deployments changed ({"LLMServer": {"user_config":
    ...}}): a field that is a mapping on both sides (user_config, ray_actor_options, autoscaling_config) is
    merged key by key, anything else replaced. Returns the new file's path, beside `base`."""
    config = yaml.safe_load(base.read_text())
    entries = {entry["name"]: entry for entry in config["applications"][0]["deployments"]}
    for name, fields in changes.items():
        entry = entries.get(name)
        if entry is None:
            config["applications"][0]["deployments"].append(entry := {"name": name})
        for field, value in fields.items():
            old = entry.get(field)
            entry[field] = {**old, **value} if isinstance(old, dict) and isinstance(value, dict) else value
    changed = base.with_name(f"{base.stem}.{uuid.uuid4().hex[:8]}.yaml")
    changed.write_text(yaml.safe_dump(config))
    return changed


@contextlib.contextmanager
def reconfigured(platform: LocalPlatform, changes: dict[str, dict], base: Path | None = None) -> Iterator[Path]:
    """The config at `base` (the platform's deployed one by default) deployed with `changes` (`changed_config`),
    and `base` again on exit. Only the deployments named change: a user_config is applied in place, other
    fields restart those replicas alone. Yields the changed config's path, the base of a nested change."""
    base = base or platform.session_dir / "serve_config.yaml"
    changed = changed_config(base, changes)
    # Engines are already loaded: a redeploy that is not RUNNING within minutes will not become so.
    deploy(platform, changed, timeout_s=180)
    try:
        yield changed
    finally:
        deploy(platform, base, timeout_s=180)
