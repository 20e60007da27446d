"""Reading Serve's JSON replica logs of the test platform."""

import json
from pathlib import Path

from serve_app.common.settings import APP_NAME
from testkit.polling import eventually


def log_lines_with(session_dir: Path, text: str, expect: set[str], timeout_s: float = 10) -> dict[str, list[dict]]:
    """JSON log lines per deployment that contain `text`, once every deployment in `expect` logged one."""
    def found() -> dict[str, list[dict]] | None:
        lines: dict[str, list[dict]] = {}
        for path in (session_dir / "logs" / "serve").glob("replica_*.log"):
            for line in path.read_text(errors="replace").splitlines():
                if text in line:
                    record = json.loads(line)
                    lines.setdefault(record["deployment"].removeprefix(f"{APP_NAME}_"), []).append(record)
        return lines if set(lines) >= expect else None

    return eventually(found, timeout_s, 0.25, f"log lines with {text!r} from {sorted(expect)}")
