"""The cluster the tests of this package share: three hosts (network namespaces) with the full platform, brought up
once by `python -m serve_app.cluster`'s own code with the suite's short job timeouts, taken down at the end."""

import os
import shutil

import pytest

from serve_app.cluster import lifecycle, network
from serve_app.cluster.state import STATE_FILE, ClusterState
from serve_app.common.settings import REPO_ROOT
from serve_app.ops.local_cluster import admin_key
from testkit.config import JOB_ENV


@pytest.fixture(scope="session")
def cluster() -> ClusterState:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip(reason="network namespaces need root and iproute2")
    if network.bridge_exists() or STATE_FILE.exists():
        pytest.fail("a cluster is up already: `python -m serve_app.cluster down` first")
    try:
        yield lifecycle.up(3, 4, REPO_ROOT / "serve_config.yaml", dict(JOB_ENV))
    finally:
        lifecycle.down()


@pytest.fixture(scope="session")
def api_key(cluster) -> str:
    return admin_key()
