"""Job routes: S0's `/v1/inference`, any declared graph as a job (`/v1/jobs/{graph}`) or as a batch of jobs
(`/v1/jobs/{graph}/batch`, read back at `/v1/jobs/batches/{id}`), one status route family for every job
(read, long-poll, cancel), and the dead letters an operator can requeue."""

import json
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from serve_app.common.errors import ValidationFailed
from serve_app.common.generation import MaxTokens, Temperature, TopP, UserText
from serve_app.common.tiers import Tier, capped
from serve_app.http.problems import S0_TAG, current_request_id
from serve_app.jobs.batch import MAX_BATCH_ID, MAX_ITEMS, check_items, submit_batch, view_batch
from serve_app.jobs.model import BatchView, JobRequest, JobView, normalize_id
from serve_app.jobs.service import JobService, Refused
from serve_app.security.caller import ANONYMOUS, current_caller

router = APIRouter(tags=["jobs"])
JobId = Annotated[str, Path(max_length=128)]
Priority = Annotated[Tier, Header(alias="X-Priority")]
Timeout = Annotated[float | None, Header(alias="X-Request-Timeout", gt=0)]
SentId = Annotated[str | None, Header(alias="X-Request-Id")]
# The longest a GET may hold the connection waiting for a terminal status.
MAX_WAIT_S = 60
Wait = Annotated[float, Query(ge=0, le=MAX_WAIT_S, description="seconds to wait for an end")]


class InferenceSubmission(BaseModel):
    """S0's body: a prompt for a model, and the client's own id for the request if it has one."""

    model_config = ConfigDict(extra="forbid")

    prompt: UserText = Field(min_length=1, max_length=16384)
    model: str = Field(min_length=1)
    clientRequestId: str | None = None
    max_tokens: MaxTokens | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    seed: int | None = None
    ignore_eos: bool = False  # vLLM's extension, as on /v1/completions


class BatchSubmission(BaseModel):
    """Bodies for one graph, each what `POST /v1/jobs/{graph}` takes: a job runs each."""

    model_config = ConfigDict(extra="forbid")

    items: list[dict] = Field(min_length=1, max_length=MAX_ITEMS)


class DeadLetterView(BaseModel):
    requestId: str
    error: str


def jobs(request: Request) -> JobService:
    return request.app.state.jobs


def job_id(sent: str | None, client_id: str | None = None) -> str:
    """S0's id: the body's clientRequestId when it names one, else X-Request-Id (the client's; Serve sets
    one on every request that comes without, so a UUID then)."""
    for candidate, source in ((client_id, "clientRequestId"), (sent, "X-Request-Id")):
        if candidate is not None:
            normalized = normalize_id(candidate)
            if normalized is None:
                raise ValidationFailed("request body failed validation", errors=[
                    {"field": source, "message": "must be 1-128 letters, digits or . _ : -"}])
            return normalized
    return current_request_id()


def batch_id(sent: str | None) -> str:
    """A batch's id, as a job's is chosen (X-Request-Id); short enough for its jobs' `.<index>` suffix."""
    chosen = job_id(sent) or str(uuid.uuid4())
    if len(chosen) > MAX_BATCH_ID:
        raise ValidationFailed("request headers failed validation", errors=[
            {"field": "X-Request-Id", "message": f"a batch id is at most {MAX_BATCH_ID} characters (its jobs add "
                                                 ".<index>)"}])
    return chosen


def accepted(view: BaseModel, created: bool, location: str) -> JSONResponse:
    """202 with the job (or batch) and where to read it; an id already taken answers its existing one. (Serve
    itself sets X-Request-Id: the job's id when the client sent it, its own id when the body named the job.)"""
    headers = {"Location": location}
    if not created:
        headers["X-Job-Existing"] = "true"
    return JSONResponse(view.model_dump(), status_code=202, headers=headers)


def refused(error: Refused) -> JSONResponse:
    """S0's queue-full answer: 429 at once, the REJECTED job as the body, when to come back."""
    return JSONResponse(error.view.model_dump(), status_code=429, headers={"Retry-After": "1"})


def owner() -> str | None:
    """The tenant whose jobs this request may see; None (every job) for an admin key."""
    caller = current_caller() or ANONYMOUS
    return None if "admin" in caller.scopes else caller.tenant


def ownership(tier: Tier) -> dict:
    """Whose job it is (the caller's tenant, key and scopes), at the tier asked for but never above the key's own."""
    caller = current_caller() or ANONYMOUS
    return {"tier": capped(tier, caller.tier), "tenant": caller.tenant, "key_id": caller.key_id,
            "scopes": caller.scopes}


def graph_request(graph: str, body: dict, request: Request) -> JobRequest:
    return JobRequest.of(f"/v1/graphs/{graph}", json.dumps(body).encode(), dict(request.headers))


async def submit(request: Request, kind: str, job_request: JobRequest, location: str, tier: Tier = "normal",
                 **options) -> JSONResponse:
    """Queue the job for the caller's tenant, at the tier asked for but never above the key's own."""
    try:
        job, created = await jobs(request).submit(kind, job_request, **ownership(tier), **options)
    except Refused as error:
        return refused(error)
    return accepted(JobView.of(job, None), created, f"{location}/{job.id}")


@router.post("/v1/inference", status_code=202, response_model=JobView, tags=[S0_TAG])
async def submit_inference(body: InferenceSubmission, request: Request, tier: Priority = "normal",
                           timeout_s: Timeout = None,
                           sent_id: SentId = None) -> JSONResponse:
    """S0: queue a completion of `prompt` by `model`; 202 at once, 429 when the queue is full."""
    await request.app.state.llm.generator(body.model)  # 404 for a model no generator serves
    completion = body.model_dump(exclude={"clientRequestId"}, exclude_none=True)
    job_request = JobRequest.of("/v1/completions", json.dumps(completion).encode(), {"content-type": "application/json"})
    return await submit(request, "inference", job_request, "/v1/inference", job_id=job_id(sent_id, body.clientRequestId),
                        tier=tier, timeout_s=timeout_s, model=body.model)


@router.post("/v1/jobs/dead-letters/{job_id}/requeue", response_model=JobView)
async def requeue_dead_letter(job_id: JobId, request: Request) -> JobView:
    """A job that failed after every retry, queued again."""
    return await jobs(request).requeue(job_id)


@router.get("/v1/jobs/dead-letters", response_model=list[DeadLetterView])
async def list_dead_letters(request: Request) -> list[DeadLetterView]:
    """Jobs that failed after every retry, oldest first, with their last error."""
    return [DeadLetterView(requestId=letter.job_id, error=letter.error) for letter in await jobs(request).dead_letters()]


@router.post("/v1/jobs/{graph}", status_code=202, response_model=JobView)
async def submit_graph(graph: str, body: dict, request: Request, tier: Priority = "normal", timeout_s: Timeout = None,
                       sent_id: SentId = None) -> JSONResponse:
    """Any declared graph as a job; the body is checked against the graph's input before it is queued."""
    request.app.state.runner.parse(graph, body)
    return await submit(request, "graph", graph_request(graph, body, request), "/v1/jobs", job_id=job_id(sent_id),
                        tier=tier, timeout_s=timeout_s)


@router.post("/v1/jobs/{graph}/batch", status_code=202, response_model=BatchView)
async def submit_graph_batch(graph: str, body: BatchSubmission, request: Request, tier: Priority = "normal",
                             timeout_s: Timeout = None, sent_id: SentId = None) -> JSONResponse:
    """A job per item, each as `POST /v1/jobs/{graph}` submits it, or none: a bad item is a 422 naming its
    index. The batch id is X-Request-Id's (else Serve's); its jobs are `<batch id>.<index>`. Each job counts
    as one request against the key's per-minute rate limit."""
    check_items(request.app.state.runner, graph, body.items)
    caller = current_caller() or ANONYMOUS
    view, created = await submit_batch(
        jobs(request), graph, [graph_request(graph, item, request) for item in body.items], batch_id(sent_id),
        # The gate counted this request once; each further job counts one more (all or none).
        admit=lambda new: request.app.state.guard.admit_more(caller, new - 1), timeout_s=timeout_s,
        **ownership(tier))
    return accepted(view, created, f"/v1/jobs/batches/{view.batchId}")


@router.get("/v1/jobs/batches/{batch_id}", response_model=BatchView)
async def read_batch(batch_id: JobId, request: Request, wait: Wait = 0) -> BatchView:
    """The batch's jobs in item order (each with its result or error once it ended), how many are in each
    status, and `done` once every one ended; `?wait=` holds until then or the wait is over."""
    return await view_batch(jobs(request), batch_id, wait, tenant=owner())


@router.get("/v1/inference/{job_id}", response_model=JobView, tags=[S0_TAG])
@router.get("/v1/jobs/{job_id}", response_model=JobView)
async def read_job(job_id: JobId, request: Request, wait: Wait = 0) -> JobView:
    """The job's status, error, result and timestamps; `?wait=` holds until it ends or the wait is over."""
    return await jobs(request).view(job_id, wait, tenant=owner())


@router.delete("/v1/inference/{job_id}", response_model=JobView, tags=[S0_TAG])
@router.delete("/v1/jobs/{job_id}", response_model=JobView)
async def cancel_job(job_id: JobId, request: Request, response: Response) -> JobView:
    """Cancel: a queued job never runs; a running one is cancelled inside its deployment (202 until it ends)."""
    view = await jobs(request).cancel(job_id, tenant=owner())
    response.status_code = 202 if view.status == "RUNNING" else 200
    return view
