"""The HTTP ingress: one FastAPI app in front of every graph."""

import logging
import time
from collections.abc import Awaitable

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from ray import serve
from ray.serve.handle import DeploymentHandle

from graphs import builtin
from graphs.builtin import ModelHandles
from serve_app.problems import install_problem_handlers
from serve_app.readiness import SERVING, deployment_statuses
from serve_app.schemas import (CaptionResponse, ClassifyResponse, ImageRequest,
                               RecommendRequest, RecommendResponse)
from serve_app.v2.router import router as v2_router

logger = logging.getLogger("ray.serve")
app = FastAPI(title="Serving foundation", version="0.1.0")
install_problem_handlers(app)
app.include_router(v2_router)


async def _run_graph(name: str, graph: Awaitable[dict]) -> dict:
    started = time.perf_counter()
    result = "FAILED"
    try:
        answer = await graph
        result = "SUCCESS"
        return answer
    finally:
        logger.info("graph finished", extra={
            "graph": name, "result": result,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2)})


@serve.deployment(ray_actor_options={"num_cpus": 0.2})
@serve.ingress(app)
class Ingress:
    """Routes HTTP requests to the graphs; readiness reflects every deployment of the app."""

    def __init__(self, preprocessor: DeploymentHandle, vision: DeploymentHandle,
                 features: DeploymentHandle, ranker: DeploymentHandle, llm: DeploymentHandle):
        self.models = ModelHandles(preprocessor, vision, features, ranker, llm)
        app.state.models = self.models  # the V2 router reaches the handles through request.app

    @app.get("/health/live")
    async def live(self) -> dict:
        return {"status": "live"}

    @app.get("/health/ready")
    async def ready(self) -> JSONResponse:
        # A replica counts once its __init__ returned, and __init__ loads and warms up the model.
        statuses = deployment_statuses()
        ready = all(status in SERVING for status in statuses.values())
        deployments = {name: status.value for name, status in statuses.items()}
        return JSONResponse({"status": "ready" if ready else "not_ready", "deployments": deployments},
                            status_code=200 if ready else 503)

    @app.post("/v1/graphs/classify", response_model=ClassifyResponse)
    async def classify(self, request: ImageRequest) -> dict:
        return await _run_graph("classify", builtin.classify(self.models, request.image_bytes()))

    @app.post("/v1/graphs/recommend", response_model=RecommendResponse)
    async def recommend(self, request: RecommendRequest) -> dict:
        return await _run_graph("recommend", builtin.recommend(self.models, request.user_id, request.k))

    @app.post("/v1/graphs/caption", response_model=CaptionResponse)
    async def caption(self, request: ImageRequest) -> dict:
        return await _run_graph("caption", builtin.caption(self.models, request.image_bytes()))
