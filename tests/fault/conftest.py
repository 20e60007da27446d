"""The fault tests' client, and the job that the dead-letter test reads: the FaultInjector deployments and
their graphs are part of the test platform (testkit/config.py)."""

import uuid

import httpx
import pytest


@pytest.fixture(scope="package")
def graphs(platform):
    """An HTTP client and the path of the platform's deployed config (the base of a change)."""
    with httpx.Client(base_url=platform.base_url, headers=platform.headers, timeout=30) as http:
        yield http, platform.session_dir / "serve_config.yaml"


@pytest.fixture(scope="package", autouse=True)
def failing_job(graphs) -> str:
    """A job of `failing_job`, whose node fails every call (`flaky_jobs`, 503): submitted when the fault tests
    start, so that its retries (about a minute of backoff) pass while the tests before test_job_dead_letters.py
    run; the ones that kill replicas or Redis come after it (file order). Its id."""
    http, _ = graphs
    job_id = f"dead-{uuid.uuid4().hex[:10]}"
    assert http.post("/v1/jobs/failing_job", json={"x": 1}, headers={"X-Request-Id": job_id}).status_code == 202
    return job_id
