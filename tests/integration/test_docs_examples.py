"""Every example the docs show runs: each ```bash and ```python block of README.md and docs/*.md is one test
(id `page.md:line`), run from the repository root against the session platform, with the addresses of
`make run`'s platform (localhost:8000 or 127.0.0.1:8000, and :9000 for gRPC) rewritten to the test platform's.
Blocks fenced ```console or ```text are shown, never run (docs/testing.md)."""

import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from serve_app.common.settings import REPO_ROOT

PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
RUNNABLE = ("bash", "python")
TIMEOUT_S = 60
# A fenced code block as CommonMark reads one: up to 3 spaces, 3 or more backticks, an info string without
# backticks; it ends at a line of at least as many backticks.
OPENING = re.compile(r"^ {0,3}(?P<fence>`{3,})(?P<info>[^`]*)$")
HTTP = re.compile(r"(?<![\w.-])(?:localhost|127\.0\.0\.1):8000(?!\d)")
GRPC = re.compile(r"(?<![\w.-])(?:localhost|127\.0\.0\.1):9000(?!\d)")


@dataclass(frozen=True)
class Example:
    page: str
    line: int
    language: str
    code: str

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def examples(pages: list[Path] = PAGES) -> list[Example]:
    """The bash and python blocks of the pages, in page order; `line` is the opening fence's (1-based)."""
    found = []
    for page in pages:
        lines = page.read_text().splitlines()
        number = 0
        while number < len(lines):
            opening = OPENING.match(lines[number])
            number += 1
            if opening is None:
                continue
            closing = re.compile(rf"^ {{0,3}}`{{{len(opening['fence'])},}}\s*$")
            start, body = number, []
            while number < len(lines) and not closing.match(lines[number]):
                body.append(lines[number])
                number += 1
            number += 1
            language = (opening["info"].split() or [""])[0]
            if language in RUNNABLE:
                found.append(Example(str(page.relative_to(REPO_ROOT)), start, language, "\n".join(body) + "\n"))
    return found


def rewritten(code: str, http: str, grpc: str) -> str:
    """The example aimed at the platform at `http` (host:port) and `grpc` (host:port) instead of make run's."""
    return GRPC.sub(grpc, HTTP.sub(http, code))


def command(language: str, code: str) -> list[str]:
    if language == "bash":
        return ["bash", "-c", "set -euo pipefail\n" + code]
    return [sys.executable, "-c", code]


EXAMPLES = examples()


@pytest.mark.parametrize("example", EXAMPLES, ids=[example.id for example in EXAMPLES])
def test_the_example_runs(platform, example):
    code = rewritten(example.code, platform.base_url.removeprefix("http://"), platform.grpc_url)
    # `python` in a shell example is the project's, as in a shell with the virtualenv active.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    # A session of its own: a block past its time is stopped with everything it started (curl under bash).
    with subprocess.Popen(command(example.language, code), cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, start_new_session=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            pytest.fail(f"{example.id} ran past {TIMEOUT_S} s\n--- code\n{code}\n--- stdout\n{stdout}\n"
                        f"--- stderr\n{stderr}")
    assert process.returncode == 0, (f"{example.id} exited {process.returncode}\n--- code\n{code}\n"
                                     f"--- stdout\n{stdout}\n--- stderr\n{stderr}")
