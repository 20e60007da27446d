"""Reading Serve's JSON replica logs of the test platform."""

import json
import time
from pathlib import Path

from serve_app.common.settings import APP_NAME


def log_lines_with(session_dir: Path, text: str, expect: set[str], timeout_s: float = 10) -> dict[str, list[dict]]:
    """JSON log lines per deployment that contain `text`, once every deployment in `expect` logged one."""
    deadline = time.monotonic() + timeout_s
    while True:
        found: dict[str, list[dict]] = {}
        for path in (session_dir / "logs" / "serve").glob("replica_*.log"):
            for line in path.read_text(errors="replace").splitlines():
                if text in line:
                    record = json.loads(line)
                    deployment = record["deployment"].removeprefix(f"{APP_NAME}_")
                    found.setdefault(deployment, []).append(record)
        if set(found) >= expect or time.monotonic() > deadline:
            return found
        time.sleep(0.5)
