"""The Grafana dashboard and the alert rules (k8s/monitoring/) on a real Prometheus scraping the platform:
after a short mixed load, every panel's queries and the quantity behind every alert have data."""

import base64
import json
import math
import shutil
import subprocess
import time

import httpx
import pytest
import yaml

from serve_app.common.settings import REPO_ROOT
from serve_app.common.shapes import shape_png
from serve_app.local_cluster import free_port, reconfigured

MONITORING = REPO_ROOT / "k8s" / "monitoring"
# Grafana's $__rate_interval, fixed: wide enough to hold the whole load.
RATE_INTERVAL = "5m"
# The shipped graphs have no shadow; this one mirrors its rank node to a second Ranker call.
SHADOWED = {"root": "steps", "input": {"user_id": {"type": "integer", "ge": 0}}, "nodes": {
    "steps": {"kind": "sequence", "steps": ["features", "rank"]},
    "features": {"kind": "model", "deployment": "FeatureLookup", "method": "lookup", "args": ["$input.user_id"]},
    "rank": {"kind": "model", "deployment": "Ranker", "method": "rank", "args": ["$features", 3],
             "shadow": {"node": "candidate"}},
    "candidate": {"kind": "model", "deployment": "Ranker", "method": "rank", "args": ["$features", 3]}}}


@pytest.fixture
def prometheus(platform, tmp_path):
    """A Prometheus of its own on a free port, scraping the targets Ray lists for it every second and
    evaluating alerts.yaml every second; its URL."""
    assert shutil.which("prometheus"), "prometheus is not installed: make prometheus"
    config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
              "rule_files": [str(MONITORING / "alerts.yaml")],
              "scrape_configs": [{"job_name": "ray", "file_sd_configs": [
                  {"files": [str(platform.session_dir / "prom_metrics_service_discovery.json")]}]}]}
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    url = f"http://127.0.0.1:{free_port()}"
    with open(tmp_path / "prometheus.log", "wb") as log:
        process = subprocess.Popen(["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
                                    f"--storage.tsdb.path={tmp_path / 'data'}", "--log.level=warn",
                                    f"--web.listen-address={url.removeprefix('http://')}"], stdout=log, stderr=log)
    try:
        _wait_ready(url, process, tmp_path / "prometheus.log")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def _wait_ready(url: str, process: subprocess.Popen, log_path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, f"prometheus exited: {log_path.read_text()}"
        try:
            if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"prometheus not ready: {log_path.read_text()}")


def _panel_queries() -> dict[str, str]:
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    return {f"panel {panel['title']!r} ({target['refId']})": target["expr"].replace("$__rate_interval", RATE_INTERVAL)
            for panel in dashboard["panels"] for target in panel.get("targets", [])}


def _rules() -> list[dict]:
    return [rule for group in yaml.safe_load((MONITORING / "alerts.yaml").read_text())["groups"]
            for rule in group["rules"]]


def _query(prometheus: str, expr: str) -> list[dict]:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert answer["status"] == "success", f"{expr}: {answer}"
    return answer["data"]["result"]


def _has_data(result: list[dict]) -> bool:
    """At least one series with a number: NaN (a quantile of no requests) shows nothing on a panel either."""
    return any(math.isfinite(float(series["value"][1])) for series in result)


def _drive_mixed_load(client: httpx.Client, low_tier_key: str) -> None:
    """Each kind of traffic a panel shows: graphs (shadowed, with a breaker), LLM streamed and not, a job,
    a request without a key (401) and a burst over a low tier's 10 requests a second (429)."""
    image = {"image": base64.b64encode(shape_png("circle", 1)).decode()}
    for path, body in [("/v1/graphs/classify", image), ("/v1/graphs/recommend", {"user_id": 7, "k": 5}),
                       ("/v1/graphs/shadowed", {"user_id": 7}), ("/v1/graphs/recommend_explain", {"user_id": 7}),
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
    deadline = time.monotonic() + 60
    while client.get(f"/v1/jobs/{job.json()['requestId']}", params={"wait": 10}).json()["status"] in ("QUEUED",
                                                                                                    "RUNNING"):
        assert time.monotonic() < deadline, "the job did not finish in 60 s"


def test_every_panel_and_alert_quantity_has_data(platform, client, new_api_key, prometheus):
    rules = _rules()
    with reconfigured(platform, {}, args={"graphs": {"shadowed": SHADOWED}}):
        low_tier_key = new_api_key("monitoring", "low", scopes=("llm",))
        # A series' first sample has no rate: the second round moves every series Prometheus has seen.
        for _ in range(2):
            _drive_mixed_load(client, low_tier_key)
            time.sleep(3)
        # Alerts only return series while firing, so what is checked is the quantity each one compares,
        # which alerts.yaml records just before it.
        queries = {**_panel_queries(), **{f"recorded {rule['record']}": rule["record"] for rule in rules
                                          if "record" in rule}}
        deadline = time.monotonic() + 30
        while missing := [name for name, expr in queries.items() if not _has_data(_query(prometheus, expr))]:
            if time.monotonic() > deadline:
                break
            time.sleep(2)
        assert not missing, f"no data for: {missing}"

        recorded = {rule["record"] for rule in rules if "record" in rule}
        for alert in (rule for rule in rules if "alert" in rule):
            assert any(name in alert["expr"] for name in recorded), f"{alert['alert']} compares no recorded quantity"
            _query(prometheus, alert["expr"])  # evaluates on the live series without an error
        loaded = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
        health = {rule["name"]: (rule["health"], rule.get("lastError")) for group in loaded for rule in group["rules"]}
        assert len(health) == len(rules) and all(state == "ok" for state, _ in health.values()), health
