"""k8s/monitoring/ without a platform: promtool accepts the rules and its unit tests fire each alert, and
every dashboard panel queries the `${datasource}` variable."""

import json
import shutil
import subprocess

import pytest

from serve_app.common.settings import REPO_ROOT

MONITORING = REPO_ROOT / "k8s" / "monitoring"


@pytest.mark.parametrize("command", [["check", "rules", "alerts.yaml"], ["test", "rules", "alerts_test.yaml"]])
def test_promtool_accepts_the_rules_and_their_tests_pass(command):
    assert shutil.which("promtool"), "promtool is not installed: make prometheus"
    result = subprocess.run(["promtool", *command], cwd=MONITORING, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_panel_queries_the_datasource_variable():
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    assert [variable["name"] for variable in dashboard["templating"]["list"]] == ["datasource"]
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in panels:
        assert panel["targets"], panel["title"]
        for source in [panel["datasource"], *(target["datasource"] for target in panel["targets"])]:
            assert source == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
