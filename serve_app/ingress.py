"""The HTTP ingress: one FastAPI app in front of every graph, model and LLM API."""

import asyncio
from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from ray import serve
from ray.serve.handle import DeploymentHandle

from graphs.runner import GraphRunner
from graphs.spec import GraphSpec
from serve_app.common.settings import LLMSettings, PlatformSettings
from serve_app.hosted_models import HostedModel
from serve_app.http.drain_gate import DrainGate, HeldWork
from serve_app.http.graph_body import graph_body
from serve_app.http.graph_openapi import document_graphs
from serve_app.http.job_routes import RUNS_AS_JOB
from serve_app.http.overload import Admission, OverloadConfig, OverloadGuard
from serve_app.http.problems import install_problem_handlers
from serve_app.jobs.model import JobOutcome
from serve_app.jobs.prefer import RespondAsync
from serve_app.jobs.replay import replay
from serve_app.jobs.router import router as jobs_router
from serve_app.jobs.service import JobService
from serve_app.jobs.settings import JobSettings
from serve_app.llm.infer_api import router as infer_router
from serve_app.llm.openai_api.router import router as openai_router
from serve_app.llm.semantic_cache import SemanticCacheConfig
from serve_app.llm.service import LLMService
from serve_app.readiness import Liveness, host_models, not_live, readiness
from serve_app.security.caller import Caller, act_for
from serve_app.security.config import SecurityConfig
from serve_app.security.gate import Gate, Guard, SecurityHeaders
from serve_app.security.openapi import document_security
from serve_app.v2.grpc_service import GRPCInferenceService
from serve_app.v2.models import ModelRepository
from serve_app.v2.router import router as v2_router

app = FastAPI(title="Serving foundation", version="0.1.0")
install_problem_handlers(app)
app.add_middleware(RespondAsync)
# Inside CORS, so a browser's preflight needs no key and refusals still carry the CORS headers.
app.add_middleware(Gate)
# Outside the gate: overload is shed before a key lookup and a rate-limit round trip are spent on it, and the
# time a request waits for them counts in its route's load.
app.add_middleware(OverloadGuard)
# Outside the gate: a draining replica refuses before it spends a key lookup.
app.add_middleware(DrainGate)
app.add_middleware(SecurityHeaders)
app.add_middleware(CORSMiddleware, allow_origins=PlatformSettings().cors_origins, allow_methods=["*"],
                   allow_headers=["*"], expose_headers=["X-Request-Id", "Retry-After"])
for router in (v2_router, openai_router, infer_router, jobs_router):
    app.include_router(router)


_NOT_READY = {503: {"description": "not_ready (no graph can serve) or draining (the server is shutting down)"}}


class LLMDeployments(BaseModel):
    """Which model deployments the LLM APIs call: the text generators (OpenAI's `model` picks one by its id; the
    first answers requests that name none) and the embedder."""

    model_config = ConfigDict(extra="forbid")

    generators: list[str] = Field(default=["LLMServer"], min_length=1)
    embedder: str = "Embedder"

    def deployments(self) -> list[tuple[str, str]]:
        """(field, deployment name) of every deployment named."""
        return [*((f"generators[{i}]", name) for i, name in enumerate(self.generators)), ("embedder", self.embedder)]


class IngressConfig(BaseModel):
    """Live knobs (user_config): overrides of S1's LLM env settings, and the semantic cache."""

    model_config = ConfigDict(extra="forbid")

    llm: dict = Field(default_factory=dict)
    # Overrides of the job settings (serve_app/jobs/settings.py, PLATFORM_JOBS_*) the ingress applies.
    jobs: dict = Field(default_factory=dict)
    semantic_cache: SemanticCacheConfig = Field(default_factory=SemanticCacheConfig)
    # API keys, rate limits per tier, input limits, the body deadline (serve_app/security/config.py).
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    # Early refusal of synchronous work that would wait past its deadline (serve_app/http/overload.py).
    overload: OverloadConfig = Field(default_factory=OverloadConfig)


@serve.deployment(ray_actor_options={"num_cpus": 0.1})
@serve.ingress(app)
class Ingress(GRPCInferenceService):
    """Routes HTTP requests to the graph runner, the V2 model repository and the LLM service, and V2 gRPC
    calls (GRPCInferenceService's methods) to the same repository."""

    def __init__(self, models: dict[str, DeploymentHandle], graphs: dict[str, GraphSpec], llm: LLMDeployments,
                 job_consumer: DeploymentHandle | None = None, hosted: dict[str, HostedModel] | None = None):
        # job_consumer is bound only so it runs with the app: jobs reach it through the broker, not a handle.
        # Hosted models run in this replica; everything else calls them as it calls a deployment.
        self.hosted = {name: model.host(name) for name, model in (hosted or {}).items()}
        host_models(self.hosted)
        models = {**models, **self.hosted}
        settings = PlatformSettings()
        redis_url = settings.redis_url
        app.state.guard = Guard(settings)
        app.state.held = HeldWork()
        app.state.admission = Admission()
        liveness = Liveness()
        self.runner = GraphRunner(graphs, models, redis_url, liveness=liveness)
        # The routers reach the runner, the models, the LLM service and the jobs through request.app.
        app.state.runner = self.runner
        app.state.jobs = JobService(redis_url)
        app.state.models = ModelRepository(models, self.runner)
        app.state.llm = LLMService({name: models[name] for name in llm.generators}, models[llm.embedder], liveness)
        app.state.server = (app.title, app.version)
        self.state = app.state
        document_graphs(app, self.runner)
        document_security(app)
        self.reconfigure({})

    def reconfigure(self, user_config: dict) -> None:
        config = IngressConfig.model_validate(user_config)
        app.state.llm.configure(LLMSettings(**config.llm), config.semantic_cache)
        app.state.jobs.configure(JobSettings(**config.jobs))
        app.state.guard.configure(config.security)
        app.state.admission.config = config.overload

    async def check_health(self) -> None:
        """Serve's health check of this replica covers the models it hosts."""
        for handle in self.hosted.values():
            await handle.check_health()

    @app.get("/")
    async def root(self) -> dict:
        """S1's status route: what this server is and which models it serves."""
        return {"status": "ok", "service": app.title, "version": app.version,
                "models": [model.name for model in await app.state.llm.describe()]}

    @app.get("/health/live")
    async def live(self) -> dict:
        return {"status": "live"}

    @app.get("/health", responses=_NOT_READY)
    @app.get("/health/ready", responses=_NOT_READY)
    async def ready(self) -> JSONResponse:
        """200 while this replica can serve: "ready" when every deployment serves, "degraded" when some graphs
        cannot (listed); 503 when no graph can, or while draining. Probes route on the code, people read
        the body."""
        if app.state.held.draining:
            return JSONResponse({"status": "draining"}, status_code=503)
        ready, deployments = await readiness()
        graphs = {name: not await not_live(spec.deployments()) for name, spec in self.runner.specs.items()}
        status = "ready" if ready else "degraded" if any(graphs.values()) else "not_ready"
        return JSONResponse({"status": status, "deployments": deployments, "graphs": graphs},
                            status_code=503 if status == "not_ready" else 200)

    # Each declared graph is documented as its own path (graph_openapi.py); this route serves them all.
    @app.post("/v1/graphs/{name}", include_in_schema=False, openapi_extra=RUNS_AS_JOB)
    async def run_graph(self, name: str, request: Request,
                        timeout_s: float | None = Header(None, alias="X-Request-Timeout", gt=0)) -> Any:
        """Any graph declared in serve_config.yaml; the body (JSON, or an image as it is where the graph
        declares raw_body) is its `$input`. X-Request-Timeout (seconds) sets a deadline for the whole run,
        which every node's timeout is cut to."""
        body = await graph_body(request, self.runner.spec(name).raw_body)
        return await self.runner.run(name, body, timeout_s)

    async def run_job(self, job_id: str) -> JobOutcome:
        """Run a job (JobConsumer calls this): its request replayed through this app, the answer stored
        with the job. Cancelling the call cancels the route and the deployment calls under it."""
        with app.state.held.hold():  # draining: refused, so the consumer queues the job again
            return await self._run_job(job_id)

    async def _run_job(self, job_id: str) -> JobOutcome:
        store = app.state.jobs.store
        job, runnable = await asyncio.to_thread(store.runnable, job_id)
        if job is None:  # expired while it waited
            return JobOutcome(http_status=404, title="unknown_job")
        if not runnable:  # its body is gone: sealed under a key this replica does not have
            return JobOutcome(http_status=410, title="input_unavailable")
        # Counted against the key's rate when it was submitted; replayed with that key's scopes and token budget.
        act_for(Caller(key_id=job.key_id, tenant=job.tenant, tier=job.tier, scopes=frozenset(job.scopes),
                       meter=app.state.guard.charge, replay=True))
        result = await replay(app, job)
        await asyncio.to_thread(store.save_result, job_id, result)
        return JobOutcome.of(result)

    @app.get("/v1/graphs/{name}/stats")
    async def graph_stats(self, name: str) -> dict:
        """This replica's policy counts per node: calls, retries, fallbacks, breaker state, shadow agreement."""
        return {"graph": name, "nodes": self.runner.stats(name)}
