"""Health, request-id propagation and the Serve CLI against the deployed platform."""

import base64
import uuid

import yaml

from serve_app import readiness
from serve_app.app import serve_config_args
from serve_app.common.shapes import shape_png
from serve_app.local_cluster import APP_NAME, serve_cli
from tests.integration.replica_logs import log_lines_with

MODELS = serve_config_args().models
HOSTED = {name for name, model in MODELS.items() if model.placement == "ingress"}
APP_DEPLOYMENTS = set(MODELS) - HOSTED | {"Ingress", "JobConsumer"}
SERVING = {status.value for status in readiness.SERVING}


def test_live_and_ready(client):
    """Readiness lists every model: those with a deployment of their own and those the Ingress hosts."""
    assert client.get("/health/live").json() == {"status": "live"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    deployments = ready.json()["deployments"]
    assert APP_DEPLOYMENTS | HOSTED == set(deployments)
    assert set(deployments.values()) <= SERVING, deployments


def test_serve_status_shows_the_app_running(client, platform):
    status = yaml.safe_load(serve_cli("status", "--address", platform.dashboard_url))
    app = status["applications"][APP_NAME]
    assert app["status"] == "RUNNING"
    # Scaling is a serving deployment's state too: the job tests before this one leave JobConsumer scaling down.
    assert set(app["deployments"]) == APP_DEPLOYMENTS
    assert {d["status"] for d in app["deployments"].values()} <= SERVING, app["deployments"]


def test_request_id_is_honoured_echoed_and_logged_by_every_deployment(client, platform):
    request_id = f"test-{uuid.uuid4()}"
    image = base64.b64encode(shape_png("square", 3)).decode()
    response = client.post("/v1/graphs/caption", json={"image": image}, headers={"X-Request-Id": request_id})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == request_id
    expected = {"Ingress", "DaliPreprocessor", "VisionClassifier", "LLMServer"} - HOSTED
    lines = log_lines_with(platform.session_dir, request_id, expected)
    assert expected <= set(lines)
    assert all(record["request_id"] == request_id for records in lines.values() for record in records)
    graph_lines = [r for r in lines["Ingress"] if r.get("graph") == "caption"]
    assert graph_lines and graph_lines[0]["result"] == "SUCCESS"
    # Each model replica's lines name its model and version (a content hash of the artifact).
    versions = {deployment: {record.get("model_version") for record in records} for deployment, records in lines.items()}
    assert versions["LLMServer"] == {f"tiny-llama:{model_version(client, 'tiny-llama')}"}
    assert "VisionClassifier" in HOSTED or versions["VisionClassifier"].pop().startswith("vision:")
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
