"""A Prometheus of the test's own on a free port, scraping the platform's Ray metrics endpoints and
evaluating k8s/monitoring/alerts.yaml every second, and the dashboard's queries to run on it."""

import contextlib
import json
import math
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import httpx
import yaml

from serve_app.common.settings import REPO_ROOT
from serve_app.ops.local_cluster import free_port
from testkit.polling import GiveUp, NotYet, eventually

MONITORING = REPO_ROOT / "k8s" / "monitoring"
# Grafana's $__rate_interval, fixed: wide enough to hold a test's whole load.
RATE_INTERVAL = "5m"


@contextlib.contextmanager
def running_prometheus(session_dir: Path, workdir: Path) -> Iterator[str]:
    """Its URL while it runs; its targets are the ones Ray lists for Prometheus in the session directory."""
    assert shutil.which("prometheus"), "prometheus is not installed: make prometheus"
    config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
              "rule_files": [str(MONITORING / "alerts.yaml")],
              "scrape_configs": [{"job_name": "ray", "file_sd_configs": [
                  {"files": [str(session_dir / "prom_metrics_service_discovery.json")]}]}]}
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    url, log_path = f"http://127.0.0.1:{free_port()}", workdir / "prometheus.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(["prometheus", f"--config.file={workdir / 'prometheus.yml'}",
                                    f"--storage.tsdb.path={workdir / 'data'}", "--log.level=warn",
                                    f"--web.listen-address={url.removeprefix('http://')}"], stdout=log, stderr=log)
    try:
        # Discovery hands targets to the scraper seconds after start: until each is scraped, no load counts.
        def scraped() -> bool:
            if process.poll() is not None:
                raise GiveUp(f"prometheus exited: {log_path.read_text()}")
            return _scraped_every_target(url)

        eventually(scraped, 60, 0.5, "every target scraped")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def _scraped_every_target(url: str) -> bool:
    with contextlib.suppress(httpx.TransportError):
        targets = httpx.get(f"{url}/api/v1/targets", timeout=2).json()["data"]["activeTargets"]
        return bool(targets) and all(target["health"] != "unknown" for target in targets)
    return False


def wait_for_a_scrape(url: str, report_interval_s: float = 1.0) -> None:
    """Until every target was scraped after what was just done reached its endpoint (Ray reports metrics
    every `report_interval_s` here, serve_app/ops/local_cluster.py)."""
    after = time.time() + report_interval_s

    def scraped() -> bool:
        targets = httpx.get(f"{url}/api/v1/targets", timeout=2).json()["data"]["activeTargets"]
        return all(datetime.fromisoformat(target["lastScrape"]).timestamp() > after for target in targets)

    eventually(scraped, 30, 0.25, "a scrape of every target")


def panel_queries(select: Callable[[str], bool] = lambda title: True) -> dict[str, str]:
    """{"panel '<title>' (<refId>)": PromQL} of the dashboard's panels whose title `select` keeps."""
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    return {f"panel {panel['title']!r} ({target['refId']})": target["expr"].replace("$__rate_interval", RATE_INTERVAL)
            for panel in dashboard["panels"] if select(panel["title"])
            for target in panel.get("targets", [])}


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load((MONITORING / "alerts.yaml").read_text())["groups"]
            for rule in group["rules"]]


def query(url: str, expr: str) -> list[dict]:
    answer = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert answer["status"] == "success", f"{expr}: {answer}"
    return answer["data"]["result"]


def has_data(result: list[dict]) -> bool:
    """At least one series with a number: NaN (a quantile of no requests) shows nothing on a panel either."""
    return any(math.isfinite(float(series["value"][1])) for series in result)


def without_data(url: str, queries: dict[str, str], timeout_s: float = 30) -> list[str]:
    """The names of the queries that still have no data after `timeout_s` (scrapes and rules take seconds)."""
    missing = list(queries)

    def every_query_has_data() -> bool:
        missing[:] = [name for name in missing if not has_data(query(url, queries[name]))]
        return not missing

    with contextlib.suppress(NotYet):
        eventually(every_query_has_data, timeout_s, 1)
    return missing
