"""The graph-executor benchmark's baseline: `classify` hand-wired with deployment handles (decode →
DaliPreprocessor → VisionClassifier, the DeploymentResponse handed straight on), in a FastAPI ingress of
its own beside the platform, calling the platform's deployments."""

import functools

from fastapi import FastAPI
from ray import serve

from serve_app.common.images import ImageRequest
from serve_app.common.settings import APP_NAME
from serve_app.ops.local_cluster import LocalPlatform, app_status
from testkit.polling import eventually

ROUTE_PREFIX = "/hand-wired"
APP = "hand_wired"
app = FastAPI()


@serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=64)
@serve.ingress(app)
class HandWiredClassify:
    # Handles on first use: this app may start before the platform's deployments exist.
    @functools.cached_property
    def preprocessor(self):
        return serve.get_deployment_handle("DaliPreprocessor", APP_NAME)

    @functools.cached_property
    def vision(self):
        return serve.get_deployment_handle("VisionClassifier", APP_NAME)

    @app.post("/classify")
    async def classify(self, request: ImageRequest) -> dict:
        tensor = self.preprocessor.preprocess.remote(request.image_bytes())
        result = await self.vision.classify.remote(tensor)
        return {key: result[key] for key in ("label", "score", "top_k", "probabilities")}


hand_wired = HandWiredClassify.bind()


def with_hand_wired(config: dict) -> dict:
    """A Serve config with this baseline deployed as a second application."""
    application = {"name": APP, "route_prefix": ROUTE_PREFIX, "import_path": "benchmarks.hand_wired:hand_wired"}
    return {**config, "applications": [*config["applications"], application]}


def wait_running(platform: LocalPlatform, timeout_s: float = 180) -> None:
    """Until the baseline app is RUNNING (the platform's readiness says nothing of it); a failed deploy raises
    at once."""
    def settled() -> dict | None:
        status = app_status(platform.dashboard_url, APP)
        return status if status.get("status") in ("RUNNING", "DEPLOY_FAILED") else None

    status = eventually(settled, timeout_s, 1, f"{APP} RUNNING")
    if status["status"] != "RUNNING":
        raise RuntimeError(f"{APP} is not running: {status}")
