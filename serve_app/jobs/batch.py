"""Batches: one request runs a graph over many bodies, as one job per body submitted through the single-job
path (so each job obeys its graph's rules: the dedupe lock and reuse window hold per item), read back
together. All or none: every item is checked, and the rate limit and the queue's room are taken for all of
them, before the first is queued."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from graphs.runner import GraphRunner
from serve_app.common.errors import QueueFull, UnknownBatch, ValidationFailed
from serve_app.jobs.model import TERMINAL, Batch, BatchView, JobRequest
from serve_app.jobs.service import JobService, Refused, poll

MAX_ITEMS = 100
# A batch's jobs are `{batch id}.{index}`: the batch id leaves room for the longest suffix within 128.
MAX_BATCH_ID = 128 - len(f".{MAX_ITEMS - 1}")
# A batch's long poll reads every job each round: less often than a single job's.
_POLL_S = 0.5


def check_items(runner: GraphRunner, graph: str, items: list[Any]) -> None:
    """Each item checked as `POST /v1/jobs/{graph}` checks its body, and no two holding one dedupe key (they
    would run at once and the second would fail 409); ValidationFailed naming every bad item's index."""
    runner.spec(graph)  # an unknown graph is a 404 before any item is looked at
    errors, keys = [], {}
    for index, item in enumerate(items):
        try:
            key = runner.dedupe_key(graph, runner.parse(graph, item))
        except ValidationFailed as failure:
            errors += [{**error, "field": f"items.{index}" + ("" if error["field"] == "body" else f".{error['field']}")}
                       for error in failure.errors or []]
            continue
        if key is not None and keys.setdefault(key, index) != index:
            errors.append({"field": f"items.{index}", "message": f"repeats item {keys[key]}'s dedupe key {key!r}"})
    if errors:
        raise ValidationFailed("the batch failed validation; none of its items was queued", errors=errors)


def job_ids(batch_id: str, count: int) -> list[str]:
    return [f"{batch_id}.{index}" for index in range(count)]


def _id_taken() -> ValidationFailed:
    return ValidationFailed("the batch id is taken", errors=[
        {"field": "X-Request-Id", "message": "names an existing batch or job of another tenant; choose another id"}])


async def submit_batch(service: JobService, graph: str, requests: list[JobRequest], batch_id: str, *,
                       admit: Callable[[int], Awaitable[None]], tenant: str, **options) -> tuple[BatchView, bool]:
    """(the batch, True) once a job per request is submitted (`options` as JobService.submit takes them);
    (the existing batch, False) for an id already taken. `admit(n)` charges its n new jobs to the caller's
    rate limit first. A client that lost the answer, or got a 503, submits again with the same id."""
    store = service.store
    if (existing := await asyncio.to_thread(store.batch, batch_id)) is not None:
        return await _existing(service, existing, tenant), False
    ids = job_ids(batch_id, len(requests))
    known = await asyncio.to_thread(store.jobs, ids)  # a retry finds the jobs an interrupted try submitted
    if any(job is not None and job.tenant != tenant for job in known):
        raise _id_taken()
    new = sum(job is None for job in known)
    await admit(new)
    queued = sum((await asyncio.to_thread(service.queue.depth)).values())
    if queued + new > service.settings.max_queued:
        raise QueueFull(f"the job queue holds {queued} of {service.settings.max_queued} jobs: no room for {new} more")
    oldest = min([job.queued_at for job in known if job is not None] + [time.time()])
    for job_id, request in zip(ids, requests):
        try:
            await service.submit("graph", request, job_id=job_id, tenant=tenant, **options)
        except Refused:  # another client took the room since: this job reads back REJECTED (queue_full)
            pass
    batch = Batch(id=batch_id, graph=graph, tenant=tenant, job_ids=ids, created_at=time.time())
    batch, created = await asyncio.to_thread(store.create_batch, batch, oldest)
    return (await view_batch(service, batch.id) if created else await _existing(service, batch, tenant)), created


async def _existing(service: JobService, batch: Batch, tenant: str) -> BatchView:
    if batch.tenant != tenant:  # another tenant's id: say nothing of its batch
        raise _id_taken()
    return await view_batch(service, batch.id)


async def view_batch(service: JobService, batch_id: str, wait_s: float = 0, tenant: str | None = None) -> BatchView:
    """The batch as clients read it; with `wait_s`, once every job ended or the wait is over. With a
    `tenant`, another tenant's batch is as unknown as one never submitted."""
    store = service.store
    batch = await asyncio.to_thread(store.batch, batch_id)
    if batch is None or tenant not in (None, batch.tenant):
        raise UnknownBatch(f"no batch {batch_id!r}: never submitted, or expired")

    async def read() -> list:
        jobs = await asyncio.to_thread(store.jobs, batch.job_ids)
        if any(job is None for job in jobs):  # the batch expires with its oldest job: this is a moment's race
            raise UnknownBatch(f"batch {batch_id!r} expired")
        return jobs

    jobs = await poll(read, lambda jobs: all(job.status in TERMINAL for job in jobs), wait_s, _POLL_S)
    results = await asyncio.to_thread(store.results, [job.id for job in jobs if job.status in TERMINAL])
    return BatchView.of(batch, jobs, results)
