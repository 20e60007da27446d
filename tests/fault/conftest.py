"""The fault tests' client: the FaultInjector deployments and their graphs are part of the test platform
(testkit/config.py)."""

import httpx
import pytest


@pytest.fixture(scope="package")
def graphs(platform):
    """An HTTP client and the path of the platform's deployed config (the base of a change)."""
    with httpx.Client(base_url=platform.base_url, headers=platform.headers, timeout=30) as http:
        yield http, platform.session_dir / "serve_config.yaml"
