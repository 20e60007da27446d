"""The dashboard's graph-policy panels and the breaker alert on a real Prometheus, with the fault config's
graphs (testkit/config.py): a shadow, retries of a failing node, and a breaker that opens."""

import httpx
import pytest

from testkit.polling import eventually
from tests.integration.prometheus_server import (
    panel_queries,
    query,
    running_prometheus,
    wait_for_a_scrape,
    without_data,
)

pytestmark = pytest.mark.fault
FAULT_PANELS = {"Shadow agreement", "Retries and fallbacks per node", "Circuit breaker state"}


def _firing_or_pending(prometheus: str, alertname: str, timeout_s: float = 20) -> list[dict]:
    def named() -> list[dict]:
        alerts = httpx.get(f"{prometheus}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
        return [alert for alert in alerts if alert["labels"]["alertname"] == alertname]

    return eventually(named, timeout_s, 1, f"alert {alertname} pending or firing")


def test_shadow_retries_fallbacks_and_an_open_breaker_show_and_the_breaker_alert_goes_off(graphs, platform,
                                                                                           tmp_path):
    http, _ = graphs
    with running_prometheus(platform.session_dir, tmp_path) as prometheus:
        # Two rounds: a series' first sample has no rate. `retried` fails after its retries (flaky fails all
        # calls); `guarded` opens its breaker after 3 failures and answers from its fallback.
        for _ in range(2):
            for graph in ("shadowed", "retried", "guarded", "guarded", "guarded", "guarded"):
                http.post(f"/v1/graphs/{graph}", json={"x": 1})
            wait_for_a_scrape(prometheus)
        missing = without_data(prometheus, panel_queries(lambda title: title in FAULT_PANELS))
        assert not missing, f"no data for: {missing}"
        assert query(prometheus, 'graph_node:graph_breaker_state:max{graph="guarded", node="primary"}')[0]["value"][1] \
            == "2"
        alerts = _firing_or_pending(prometheus, "CircuitBreakerOpen")
        assert ("guarded", "primary") in [(alert["labels"]["graph"], alert["labels"]["node"]) for alert in alerts], alerts
