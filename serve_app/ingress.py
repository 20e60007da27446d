"""The HTTP ingress: one FastAPI app in front of every graph."""

import logging
import time
from typing import Any
from collections.abc import Awaitable

from fastapi import Body, FastAPI, Header
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ray import serve
from ray.serve.handle import DeploymentHandle

from graphs.executor import GraphExecutor, resolve
from graphs.graph_metrics import GraphMetrics
from graphs.spec import INPUT, GraphSpec
from serve_app.analysis_lock import AnalysisLock
from serve_app.errors import UnknownGraph
from serve_app.infer_api import router as infer_router
from serve_app.llm_service import LLMService
from serve_app.model_handles import ModelHandles
from serve_app.openai_api.router import router as openai_router
from serve_app.problems import install_problem_handlers
from serve_app.readiness import SERVING, deployment_statuses
from serve_app.semantic_cache import SemanticCacheConfig
from serve_app.settings import LLMSettings, PlatformSettings
from serve_app.v2.models import Serving
from serve_app.v2.router import router as v2_router

logger = logging.getLogger("ray.serve")
app = FastAPI(title="Serving foundation", version="0.1.0")
install_problem_handlers(app)
app.add_middleware(CORSMiddleware, allow_origins=PlatformSettings().cors_origins, allow_methods=["*"],
                   allow_headers=["*"], expose_headers=["X-Request-Id", "Retry-After"])
for router in (v2_router, openai_router, infer_router):
    app.include_router(router)


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


class IngressConfig(BaseModel):
    """Live knobs (user_config): overrides of S1's LLM env settings, and the semantic cache."""

    model_config = ConfigDict(extra="forbid")

    llm: dict = Field(default_factory=dict)
    semantic_cache: SemanticCacheConfig = Field(default_factory=SemanticCacheConfig)


@serve.deployment(ray_actor_options={"num_cpus": 0.2})
@serve.ingress(app)
class Ingress:
    """Routes HTTP requests to the graphs and the LLM APIs; readiness reflects every deployment of the app."""

    def __init__(self, models: ModelHandles, llm_model_id: str, embedding_model_id: str,
                 graph_handles: dict[str, DeploymentHandle], graphs: dict[str, GraphSpec]):
        metrics = GraphMetrics()
        self.graphs = {name: GraphExecutor(name, spec, graph_handles, metrics) for name, spec in graphs.items()}
        redis_url = PlatformSettings().redis_url
        self.locks = {name: AnalysisLock(redis_url, spec.dedupe.lock_ttl_s, spec.dedupe.reuse_window_s, f"graph:{name}")
                      for name, spec in graphs.items() if spec.dedupe}
        # The routers reach the handles, the graphs and the LLM service through request.app.
        app.state.serving = Serving(models, self.graphs)
        app.state.llm = LLMService(models.llm, models.embedder, llm_model_id, embedding_model_id)
        self.reconfigure({})

    def reconfigure(self, user_config: dict) -> None:
        config = IngressConfig.model_validate(user_config)
        app.state.llm.configure(LLMSettings(**config.llm), config.semantic_cache)

    @app.get("/")
    async def root(self) -> dict:
        """S1's status route: what this server is and which models it serves."""
        return {"status": "ok", "service": app.title, "version": app.version,
                "models": [app.state.llm.model_id, app.state.llm.embedding_model_id]}

    @app.get("/health/live")
    async def live(self) -> dict:
        return {"status": "live"}

    @app.get("/health")
    @app.get("/health/ready")
    async def ready(self) -> JSONResponse:
        # A replica counts once its __init__ returned, and __init__ loads and warms up the model.
        statuses = deployment_statuses()
        ready = all(status in SERVING for status in statuses.values())
        deployments = {name: status.value for name, status in statuses.items()}
        return JSONResponse({"status": "ready" if ready else "not_ready", "deployments": deployments},
                            status_code=200 if ready else 503)

    @app.post("/v1/graphs/{name}")
    async def run_graph(self, name: str, body: dict = Body(),
                        timeout_s: float | None = Header(None, alias="X-Request-Timeout", gt=0)) -> Any:
        """Any graph declared in serve_config.yaml; the body is its `$input`. X-Request-Timeout (seconds)
        sets a deadline for the whole run, which every node's timeout is cut to."""
        executor = self._graph(name)
        try:
            payload = executor.parse(body)
        except ValidationError as error:  # answered like any invalid body: 422 naming the fields
            raise RequestValidationError([{**issue, "loc": ("body", *issue["loc"])}
                                          for issue in error.errors()]) from None
        if (lock := self.locks.get(name)) is None:
            return await _run_graph(name, executor.run(payload, timeout_s))
        key = ":".join(str(part) for part in resolve(executor.spec.dedupe.key, {INPUT: payload}, "dedupe"))
        return await _run_graph(name, lock.run(key, lambda: executor.run(payload, timeout_s)))

    @app.get("/v1/graphs/{name}/stats")
    async def graph_stats(self, name: str) -> dict:
        """This replica's policy counts per node: calls, retries, fallbacks, breaker state, shadow agreement."""
        self._graph(name)
        return {"graph": name, "nodes": self.graphs[name].metrics.snapshot(name)}

    def _graph(self, name: str) -> GraphExecutor:
        if name not in self.graphs:
            raise UnknownGraph(f"no graph {name!r}; declared: {', '.join(sorted(self.graphs)) or 'none'}")
        return self.graphs[name]
