"""Start and stop the reference Triton server (server.py) in its own virtualenv."""

import contextlib
import os
import signal
import subprocess
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from serve_app.local_cluster import free_port
from serve_app.settings import REPO_ROOT

TRITON_PYTHON = REPO_ROOT / ".venv-triton" / "bin" / "python"


@contextlib.contextmanager
def running_triton(vision_dir: Path, ready_timeout_s: float = 120) -> Iterator[str]:
    """Yields the server's `host:port` once both models are ready; stops the whole process group after."""
    port = free_port()
    # Triton's python backend links against libpython, which this Python keeps in LIBDIR.
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT),
           "LD_LIBRARY_PATH": f"{sysconfig.get_config_var('LIBDIR')}:{os.environ.get('LD_LIBRARY_PATH', '')}"}
    log = tempfile.TemporaryFile()  # a file, not a pipe: Triton is chatty and nobody reads along
    process = subprocess.Popen([str(TRITON_PYTHON), str(Path(__file__).with_name("server.py")),
                                "--vision-dir", str(vision_dir), "--http-port", str(port)],
                               env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
    url = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout_s
        while not _ready(url, ("vision", "classify")):
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"Triton did not start: {log.read().decode(errors='replace')[-2000:]}")
            time.sleep(1)
        yield url
    finally:
        _stop_group(process)
        log.close()


def _stop_group(process: subprocess.Popen, timeout_s: float = 10) -> None:
    """SIGTERM PyTriton and the tritonserver it spawned; wait until the whole group is gone."""
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=timeout_s)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            os.killpg(process.pid, signal.SIGKILL if time.monotonic() > deadline else 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)


def _ready(url: str, models: tuple[str, ...]) -> bool:
    try:
        return all(httpx.get(f"http://{url}/v2/models/{m}/ready", timeout=2).status_code == 200 for m in models)
    except httpx.TransportError:
        return False
