"""Start and stop the reference Triton server (server.py) in its own virtualenv."""

import contextlib
import os
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import httpx

from serve_app.common.settings import REPO_ROOT
from serve_app.ops.local_cluster import free_port
from testkit.processes import running_process

TRITON_PYTHON = REPO_ROOT / ".venv-triton" / "bin" / "python"


@contextlib.contextmanager
def running_triton(vision_dir: Path, ready_timeout_s: float = 120) -> Iterator[str]:
    """Yields the server's `host:port` once both models are ready; stops the whole process group after."""
    port = free_port()
    # Triton's python backend links against libpython, which this Python keeps in LIBDIR.
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT),
           "LD_LIBRARY_PATH": f"{sysconfig.get_config_var('LIBDIR')}:{os.environ.get('LD_LIBRARY_PATH', '')}"}
    command = [str(TRITON_PYTHON), str(Path(__file__).with_name("server.py")),
               "--vision-dir", str(vision_dir), "--http-port", str(port)]
    url = f"127.0.0.1:{port}"
    with running_process(command, env, lambda: _ready(url, ("vision", "classify")), "Triton", ready_timeout_s):
        yield url


def _ready(url: str, models: tuple[str, ...]) -> bool:
    try:
        return all(httpx.get(f"http://{url}/v2/models/{m}/ready", timeout=2).status_code == 200 for m in models)
    except httpx.TransportError:
        return False
