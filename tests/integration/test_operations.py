"""Health, request-id propagation and the Serve CLI against the deployed platform."""

import base64
import uuid

import pytest
import yaml

from serve_app import readiness
from serve_app.app import serve_config_args
from serve_app.common.settings import APP_NAME
from serve_app.common.shapes import shape_png
from testkit.platform import serve_cli
from tests.integration.replica_logs import log_lines_with

SERVING = {status.value for status in readiness.SERVING}


@pytest.fixture(scope="module")
def deployed(platform) -> tuple[set[str], set[str]]:
    """The deployments of the platform's config, and the models its Ingress hosts."""
    models = serve_config_args(platform.session_dir / "serve_config.yaml").models
    hosted = {name for name, model in models.items() if model.placement == "ingress"}
    return set(models) - hosted | {"Ingress", "JobConsumer"}, hosted


def test_live_and_ready(client, deployed):
    """Readiness lists every model: those with a deployment of their own and those the Ingress hosts."""
    app_deployments, hosted = deployed
    assert client.get("/health/live").json() == {"status": "live"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    deployments = ready.json()["deployments"]
    assert app_deployments | hosted == set(deployments)
    assert set(deployments.values()) <= SERVING, deployments


def test_serve_status_shows_the_app_running(client, platform, deployed):
    status = yaml.safe_load(serve_cli("status", "--address", platform.dashboard_url))
    app = status["applications"][APP_NAME]
    assert app["status"] == "RUNNING"
    # Scaling is a serving deployment's state too: the job tests before this one leave JobConsumer scaling down.
    assert set(app["deployments"]) == deployed[0]
    assert {d["status"] for d in app["deployments"].values()} <= SERVING, app["deployments"]


def test_request_id_is_honoured_echoed_and_logged_by_every_deployment(client, platform, deployed):
    hosted = deployed[1]
    request_id = f"test-{uuid.uuid4()}"
    image = base64.b64encode(shape_png("square", 3)).decode()
    response = client.post("/v1/graphs/caption", json={"image": image}, headers={"X-Request-Id": request_id})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == request_id
    expected = {"Ingress", "DaliPreprocessor", "VisionClassifier", "LLMServer"} - hosted
    lines = log_lines_with(platform.session_dir, request_id, expected)
    assert expected <= set(lines)
    assert all(record["request_id"] == request_id for records in lines.values() for record in records)
    graph_lines = [r for r in lines["Ingress"] if r.get("graph") == "caption"]
    assert graph_lines and graph_lines[0]["result"] == "SUCCESS"
    # Each model replica's lines name its model and version (a content hash of the artifact).
    versions = {deployment: {record.get("model_version") for record in records} for deployment, records in lines.items()}
    assert versions["LLMServer"] == {f"tiny-llama:{model_version(client, 'tiny-llama')}"}
    assert "VisionClassifier" in hosted or versions["VisionClassifier"].pop().startswith("vision:")
    # A hosted model's stages are the Ingress's: its lines name no model version of their own.
    assert versions["Ingress"] == {None}


def model_version(client, model: str) -> str:
    (card,) = [card for card in client.get("/v1/models").json()["data"] if card["id"] == model]
    return card["version"]


def test_one_readiness_rule_for_every_protocol(client):
    """/health/ready, /health, /v2/health/ready and each model's V2 readiness agree, on every deployment."""
    assert client.get("/health").json() == client.get("/health/ready").json()
    assert client.get("/v2/health/ready").status_code == 200
    for model in ("vision", "ranker", "classify", "caption", "use-multilingual-v3"):
        assert client.get(f"/v2/models/{model}/ready").status_code == 200
    versions = client.get("/v2/models/vision").json()["versions"]
    assert len(versions) == 1 and len(versions[0]) == 12


def test_request_id_is_generated_when_absent(client):
    first = client.get("/health/live").headers["x-request-id"]
    second = client.get("/health/live").headers["x-request-id"]
    assert first and second and first != second
