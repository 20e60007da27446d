"""Schema fuzzing of the running platform with schemathesis, bounded (a few examples per operation):
with a key, no 5xx and no status or content type the OpenAPI document does not list; without a key,
every operation but health and the document itself answers 401."""

import subprocess
import sys
from pathlib import Path

import httpx

from serve_app.security.families import OPEN, route_family
from testkit.config import FAULT_GRAPHS

CONFIG = Path(__file__).with_name("schemathesis.toml")
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance"


def test_fuzzing_with_a_key_finds_no_server_error_and_nothing_undocumented(platform, tmp_path):
    schemathesis = Path(sys.executable).with_name("schemathesis")
    run = subprocess.run(
        [str(schemathesis), "--config-file", str(CONFIG), "run", f"{platform.base_url}/openapi.json",
         "-H", f"Authorization: Bearer {platform.api_key}", "--checks", CHECKS, "--max-examples", "8",
         "--phases", "examples,coverage,fuzzing", "--seed", "1", "--workers", "2",
         # The test platform's fault graphs fail, hang or slow down by design (testkit/config.py).
         "--exclude-path-regex", f"^/v1/graphs/({'|'.join(FAULT_GRAPHS)})$",
         "--report", "junit", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=540)
    summary = run.stdout[run.stdout.rfind("SUMMARY"):]
    print(summary)
    assert run.returncode == 0, run.stdout[-6000:]


def test_without_a_key_every_operation_but_health_is_401(platform):
    document = httpx.get(f"{platform.base_url}/openapi.json", timeout=30).json()
    checked = 0
    for path, operations in document["paths"].items():
        concrete = (path.replace("{name}", "classify").replace("{graph}", "recommend").replace("{job_id}", "j1")
                    .replace("{batch_id}", "b1"))
        for method in operations:
            response = httpx.request(method.upper(), f"{platform.base_url}{concrete}", json={}, timeout=30)
            if route_family(path) in OPEN:
                assert response.status_code != 401, path
            else:
                assert response.status_code == 401, (method, path, response.status_code)
                checked += 1
    assert checked >= 25
