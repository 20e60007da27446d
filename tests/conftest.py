"""One platform for the whole run, started the way users start it (`python -m serve_app.ops.run`) on the test
configuration (testkit/config.py): the fault injectors, the added model, short job timers. Tests that need
another setting change only the deployments they need (testkit.platform.reconfigured). Tests run in phases
(`_phase`): those of one Ingress replica, then the fleet's, then a redeploy of the whole application, then the
drain that stops the platform."""

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from ray import serve

from serve_app.common.settings import APP_NAME, PlatformSettings
from serve_app.keys import new_key, open_key_store
from serve_app.keys.store import FileKeyStore, RedisKeyStore
from serve_app.ops.local_cluster import LocalPlatform, deploy
from testkit.config import FLEET_INGRESS
from testkit.platform import RunningPlatform, changed_config, running_platform
from testkit.polling import eventually


def _phase(item) -> int:
    """0: the test platform as configured; 1: changed to a fleet (`fleet` fixture), never changed back;
    2: the whole application deployed again, the configuration as it started; 3: the platform stopped."""
    if item.get_closest_marker("stops_platform"):
        return 3
    if item.get_closest_marker("restarts_platform"):
        return 2
    return 1 if "fleet" in item.fixturenames else 0


def pytest_collection_modifyitems(items):
    items.sort(key=_phase)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    return PlatformSettings().artifacts_dir


@pytest.fixture(scope="session")
def running(tmp_path_factory) -> RunningPlatform:
    with running_platform(tmp_path_factory.mktemp("platform")) as started:
        yield started


@pytest.fixture(scope="session")
def platform(running) -> LocalPlatform:
    return running.platform


@dataclass(frozen=True)
class Fleet:
    store: RedisKeyStore  # where its keys live
    config: Path  # its deployed config, the base of a change


@pytest.fixture(scope="session")
def fleet(platform) -> Fleet:
    """The Ingress as two replicas with keys in Redis (the admin key copied there), rate limits shared there
    (testkit/config.py FLEET_INGRESS). Left so: the tests that use it run after every test of one replica."""
    settings = PlatformSettings()
    store = RedisKeyStore(settings.redis_url)
    for record in FileKeyStore(settings.keys_file).all().values():
        store.put(record)
    config = changed_config(platform.session_dir / "serve_config.yaml", {"Ingress": FLEET_INGRESS})
    deploy(platform, config, timeout_s=300)
    return Fleet(store, config)


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
        eventually(lambda: httpx.get(f"{platform.base_url}/", headers={"X-API-Key": key}, timeout=10).status_code
                   != 401, 10, interval_s=0.2, what="the ingress seeing the new key")
        return key

    return make
