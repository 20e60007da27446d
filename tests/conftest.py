"""One real Ray cluster and one platform for the whole session, deployed the way users deploy it:
`serve deploy serve_config.yaml` against the cluster's dashboard."""

from pathlib import Path

import httpx
import pytest

from serve_app.local_cluster import LocalPlatform, local_platform
from serve_app.common.settings import PlatformSettings


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    return PlatformSettings().artifacts_dir


@pytest.fixture(scope="session")
def platform() -> LocalPlatform:
    with local_platform() as running:
        yield running


@pytest.fixture(scope="session")
def client(platform):
    with httpx.Client(base_url=platform.base_url, timeout=60) as http:
        yield http
