"""A job: the request it replays inside the ingress, its state (S0's statuses), tier and timestamps; and a
batch, the jobs one request submitted, read back together."""

import re
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field, field_validator

from serve_app.common.tiers import Tier

JobStatus = Literal["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "REJECTED", "CANCELLED"]
TERMINAL = ("SUCCEEDED", "FAILED", "REJECTED", "CANCELLED")
# S0 takes X-Request-Id or clientRequestId as the job id: kept as sent when it is a plain token.
_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# The request headers a replay needs; anything else (auth, cookies, Prefer) is not stored.
REPLAYED_HEADERS = ("content-type", "content-encoding", "inference-header-content-length", "x-request-timeout")


def normalize_id(value: str) -> str | None:
    """A client's id, trimmed; None when it is not a plain token of at most 128 characters."""
    value = value.strip()
    return value if _ID.match(value) else None


class JobRequest(BaseModel):
    """The HTTP request a job runs: a POST route of the platform, replayed in-process by the ingress. Its body
    is not part of the job's JSON: the store keeps it apart, sealed (JobStore.create, JobStore.runnable)."""

    path: str
    headers: dict[str, str] = {}
    body: bytes = Field(default=b"", exclude=True, repr=False)

    @classmethod
    def of(cls, path: str, body: bytes, headers: dict[str, str]) -> "JobRequest":
        kept = {name: value for name, value in headers.items() if name.lower() in REPLAYED_HEADERS}
        return cls(path=path, headers=kept, body=body)


class Job(BaseModel):
    """One job's state, as stored in Redis (one JSON document, changed only by atomic transitions)."""

    id: str
    kind: Literal["inference", "graph", "route"]
    status: JobStatus = "QUEUED"
    error: str | None = None
    tier: Tier = "normal"
    # Whose job it is (the API key's tenant): only that tenant (or an admin) reads or cancels it.
    tenant: str = "anonymous"
    key_id: str = "-"
    # The submitting key's scopes: its replay may do what that key may, nothing more.
    scopes: list[str] = []
    request: JobRequest
    timeout_s: float
    model: str | None = None
    http_status: int | None = None
    queued_at: float
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0
    # Deliveries after a consumer died holding the job (at least once: the job may have run in part).
    redeliveries: int = 0

    @field_validator("scopes", mode="before")
    @classmethod
    def _empty_list(cls, value: Any) -> Any:
        return [] if value == {} else value  # the store's Lua (cjson) writes an empty list as {}


class JobResult(BaseModel):
    """What the replayed route answered: JSON as it is, anything else base64 with its media type."""

    http_status: int
    media_type: str | None = None
    body: Any = None


class JobOutcome(BaseModel):
    """What the consumer learns of a run: the route's status and, for a problem, its title."""

    http_status: int
    title: str | None = None

    @classmethod
    def of(cls, result: JobResult) -> "JobOutcome":
        title = result.body.get("title") if isinstance(result.body, dict) else None
        return cls(http_status=result.http_status, title=title)


class JobView(BaseModel):
    """A job as clients read it (S0's field names)."""

    requestId: str
    status: JobStatus
    error: str | None = None
    tier: Tier
    model: str | None = None
    result: Any = None
    httpStatus: int | None = None
    queuedAt: float
    startedAt: float | None = None
    finishedAt: float | None = None
    attempts: int
    redeliveries: int
    latencyMs: float | None = Field(default=None, description="from queued to finished")

    @classmethod
    def of(cls, job: Job, result: JobResult | None) -> "JobView":
        latency = None if job.finished_at is None else round((job.finished_at - job.queued_at) * 1000, 1)
        return cls(requestId=job.id, status=job.status, error=job.error, tier=job.tier, model=job.model,
                   result=None if result is None else result.body, httpStatus=job.http_status,
                   queuedAt=job.queued_at, startedAt=job.started_at, finishedAt=job.finished_at,
                   attempts=job.attempts, redeliveries=job.redeliveries, latencyMs=latency)


class Batch(BaseModel):
    """The jobs one request submitted (`POST /v1/jobs/{graph}/batch`), in item order, as stored in Redis."""

    id: str
    graph: str
    tenant: str = "anonymous"
    job_ids: list[str]
    created_at: float


class BatchView(BaseModel):
    """A batch as clients read it: how many of its jobs are in each state, and every job in item order."""

    batchId: str
    graph: str
    done: bool = Field(description="every job has ended (SUCCEEDED, FAILED, REJECTED or CANCELLED)")
    counts: dict[JobStatus, int]
    jobs: list[JobView]

    @classmethod
    def of(cls, batch: Batch, jobs: list[Job], results: dict[str, JobResult]) -> "BatchView":
        """`results` holds the result of each ended job that stored one, by job id."""
        counts = dict.fromkeys(get_args(JobStatus), 0)
        for job in jobs:
            counts[job.status] += 1
        return cls(batchId=batch.id, graph=batch.graph, done=all(job.status in TERMINAL for job in jobs),
                   counts=counts, jobs=[JobView.of(job, results.get(job.id)) for job in jobs])
