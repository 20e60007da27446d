"""The Grafana dashboard and the alert rules (k8s/monitoring/) on a real Prometheus scraping the platform:
after a short mixed load, every panel's queries and the quantity behind every alert have data."""

import base64

import httpx
import pytest

from serve_app.common.shapes import shape_png
from testkit.polling import eventually
from tests.integration.prometheus_server import (
    panel_queries,
    query,
    rules,
    running_prometheus,
    wait_for_a_scrape,
    without_data,
)

# The shipped graphs have no shadow and nothing in them fails: these panels are proven with injected
# faults, in tests/fault/test_monitoring_faults.py.
FAULT_PANELS = {"Shadow agreement", "Retries and fallbacks per node"}


@pytest.fixture
def prometheus(platform, tmp_path):
    with running_prometheus(platform.session_dir, tmp_path) as url:
        yield url


def _drive_mixed_load(client: httpx.Client, low_tier_key: str) -> None:
    """Each kind of traffic a panel shows: the graphs (one with a breaker), LLM streamed and not, a job,
    a request without a key (401) and a burst over a low tier's 10 requests a second (429)."""
    image = {"image": base64.b64encode(shape_png("circle", 1)).decode()}
    for path, body in [("/v1/graphs/classify", image), ("/v1/graphs/recommend", {"user_id": 7, "k": 5}),
                       ("/v1/graphs/recommend_explain", {"user_id": 7}),
                       ("/v1/completions", {"model": "tiny-llama", "prompt": "The food", "max_tokens": 8,
                                            "ignore_eos": True})]:
        assert client.post(path, json=body).status_code == 200, path
    chat = {"model": "tiny-llama", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 8,
            "ignore_eos": True, "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=chat) as streamed:
        assert streamed.status_code == 200 and "[DONE]" in streamed.read().decode()
    job = client.post("/v1/jobs/recommend", json={"user_id": 7, "k": 3})
    assert job.status_code == 202
    assert httpx.get(f"{client.base_url}/v1/models", timeout=10).status_code == 401
    burst = [client.get("/v1/models", headers={"Authorization": f"Bearer {low_tier_key}"}).status_code
             for _ in range(20)]
    assert 429 in burst, burst
    eventually(lambda: client.get(f"/v1/jobs/{job.json()['requestId']}", params={"wait": 10}).json()["status"]
               not in ("QUEUED", "RUNNING"), 60, 0, "the job finished")


def test_every_panel_and_alert_quantity_has_data(client, new_api_key, prometheus):
    low_tier_key = new_api_key("monitoring", "low", scopes=("llm",))
    # A series' first sample has no rate: the second round moves every series Prometheus has seen.
    for _ in range(2):
        _drive_mixed_load(client, low_tier_key)
        wait_for_a_scrape(prometheus)
    # Alerts only return series while firing, so what is checked is the quantity each one compares,
    # which alerts.yaml records just before it.
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    panels = panel_queries(lambda title: title not in FAULT_PANELS)
    missing = without_data(prometheus, {**panels, **{f"recorded {name}": name for name in recorded}})
    assert not missing, f"no data for: {missing}"

    for alert in (rule for rule in rules() if "alert" in rule):
        assert any(name in alert["expr"] for name in recorded), f"{alert['alert']} compares no recorded quantity"
        query(prometheus, alert["expr"])  # evaluates on the live series without an error
    loaded = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    health = {rule["name"]: (rule["health"], rule.get("lastError")) for group in loaded for rule in group["rules"]}
    assert len(health) == len(rules()) and all(state == "ok" for state, _ in health.values()), health
