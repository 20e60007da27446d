"""One real Ray cluster and one platform for the whole session, deployed the way users deploy it:
`serve deploy serve_config.yaml` against the cluster's dashboard."""

import asyncio
import json
import os
import threading
import time
from pathlib import Path

import httpx
import pytest
from ray import serve

from serve_app.local_cluster import APP_NAME, LocalPlatform, local_platform
from serve_app.common.settings import PlatformSettings
from serve_app.keys import new_key, open_key_store


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    return PlatformSettings().artifacts_dir


# The test platform's job knobs, inherited by every Ray worker: a job's redelivery after its consumer died
# comes after max_timeout_s + retry_backoff_max_s + redelivery_margin_s (here 65 s, not the default 7 minutes);
# retries wait 10, 20, 30, 30 and 30 s.
JOB_ENV = {"PLATFORM_JOBS_MAX_TIMEOUT_S": "30", "PLATFORM_JOBS_REDELIVERY_MARGIN_S": "5",
           "PLATFORM_JOBS_RETRY_BACKOFF_MAX_S": "30", "PLATFORM_JOBS_ACQUIRE_TIMEOUT_S": "3"}


@pytest.fixture(scope="session")
def platform() -> LocalPlatform:
    # PLATFORM_TEST_RUNNING=<json of LocalPlatform's fields>: test a platform already running (one started
    # with JOB_ENV) instead of starting one, for a quick edit-test loop.
    if running := os.environ.get("PLATFORM_TEST_RUNNING"):
        fields = json.loads(Path(running).read_text())
        yield LocalPlatform(fields["base_url"], fields["dashboard_url"], Path(fields["session_dir"]), fields["api_key"],
                            fields.get("grpc_url", ""))
        return
    os.environ.update(JOB_ENV)
    with local_platform() as running:
        yield running


@pytest.fixture(scope="session")
def client(platform):
    with httpx.Client(base_url=platform.base_url, headers=platform.headers, timeout=60) as http:
        yield http


@pytest.fixture(scope="session")
def ask(platform):
    """`ask(deployment, method)`: a method of one of the platform's deployments, called through a handle.
    Serve's handles (throughput-optimized) keep the event loop they were first used on, so one runs on a
    thread for the session."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def call(deployment: str, method: str):
        return await getattr(serve.get_deployment_handle(deployment, APP_NAME), method).remote()

    yield lambda deployment, method: asyncio.run_coroutine_threadsafe(call(deployment, method), loop).result(timeout=10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join()


@pytest.fixture(scope="session")
def new_api_key(platform):
    """`new_api_key(tenant, tier, scopes)`: a key made in the platform's key store, as
    `python -m serve_app.keys create` makes one, returned once the ingress accepts it."""
    settings = PlatformSettings()
    store = open_key_store(settings.key_store, settings.keys_file, settings.redis_url)

    def make(tenant: str = "tests", tier: str = "normal", scopes=("graphs", "llm", "v2", "jobs")) -> str:
        key, record = new_key(tenant, tier, frozenset(scopes))
        store.put(record)
        deadline = time.monotonic() + 10
        while httpx.get(f"{platform.base_url}/", headers={"X-API-Key": key}, timeout=10).status_code == 401:
            assert time.monotonic() < deadline, "the ingress never saw the new key"
            time.sleep(0.2)
        return key

    return make
