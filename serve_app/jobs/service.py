"""The ingress side of jobs, for every way a job comes in (S0's /v1/inference, /v1/jobs/{graph},
`Prefer: respond-async` on any POST route): accept at once or refuse (queue full), read, wait, cancel,
and the dead letters. Redis calls go to a thread so a slow or absent Redis never stalls the event loop."""

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from serve_app.common.errors import PayloadTooLarge, QueueFull, UnknownJob, ValidationFailed
from serve_app.common.tiers import Tier
from serve_app.jobs.metrics import job_metrics
from serve_app.jobs.model import TERMINAL, Job, JobRequest, JobView
from serve_app.jobs.queue import DeadLetter, JobQueue
from serve_app.jobs.settings import JobSettings
from serve_app.jobs.store import JobStore

logger = logging.getLogger("ray.serve")
# How often a long poll (GET ...?wait=) looks at the job again.
_POLL_S = 0.1
T = TypeVar("T")


async def poll(read: Callable[[], Awaitable[T]], ended: Callable[[T], bool], wait_s: float,
               every_s: float = _POLL_S) -> T:
    """`read()`'s answer once `ended` holds for it or `wait_s` is over (a long poll: GET ...?wait=)."""
    deadline = time.monotonic() + wait_s
    while True:
        value = await read()
        if ended(value) or time.monotonic() >= deadline:
            return value
        await asyncio.sleep(every_s)


class Refused(QueueFull):
    """Queue full, with the REJECTED job clients read back (S0 answers its body, not a problem)."""

    def __init__(self, view: JobView):
        super().__init__()
        self.view = view


class JobService:
    def __init__(self, redis_url: str, settings: JobSettings | None = None):
        self.settings = settings or JobSettings()
        self.store = JobStore(redis_url, self.settings)
        self.queue = JobQueue(self.store, self.settings)

    def configure(self, settings: JobSettings) -> None:
        """Live knobs (the ingress's user_config): queue bound, timeouts, TTL."""
        self.settings = self.store.settings = self.queue.settings = settings

    def timeout(self, requested_s: float | None) -> float:
        """The job's processing limit: the client's, if shorter than the platform's most."""
        return min(requested_s or self.settings.default_timeout_s, self.settings.max_timeout_s)

    async def submit(self, kind: str, request: JobRequest, *, job_id: str | None = None, tier: Tier = "normal",
                     timeout_s: float | None = None, model: str | None = None,
                     tenant: str = "anonymous", key_id: str = "-",
                     scopes: frozenset[str] = frozenset()) -> tuple[Job, bool]:
        """(the job, True) once it is queued; (the existing job, False) for an id already taken. Refused: a
        body over the tier's budget (413), a store at its memory budget (503), a full queue (429)."""
        budget = self.settings.input_bytes[tier]
        if len(request.body) > budget:
            raise PayloadTooLarge(f"a {tier} job keeps at most {budget} bytes of request body until it runs; "
                                  "send a larger one synchronously")
        job = Job(id=job_id or str(uuid.uuid4()), kind=kind, tier=tier, tenant=tenant, key_id=key_id,
                  scopes=sorted(scopes), request=request, timeout_s=self.timeout(timeout_s), model=model,
                  queued_at=time.time())
        existing = await asyncio.to_thread(self.store.get, job.id)
        if existing is not None:
            if existing.tenant != tenant:  # another tenant's id: say nothing of its job
                raise ValidationFailed("the job id is taken", errors=[
                    {"field": "X-Request-Id", "message": "names an existing job of another tenant; choose another id"}])
            return existing, False
        depth = await asyncio.to_thread(self.queue.depth)
        job_metrics().queue_depth(depth)
        if sum(depth.values()) >= self.settings.max_queued:
            return await self._refuse(job, depth)
        await asyncio.to_thread(self.store.check_room, len(request.body))
        job, created = await asyncio.to_thread(self.store.create, job)
        if not created:
            return job, False
        try:
            await asyncio.to_thread(self.queue.send, job.id, tier)
        except Exception:
            await asyncio.to_thread(self.store.discard, job.id)  # never accepted, so nothing is lost
            raise
        job_metrics().submitted.inc(tags={"tier": tier, "result": "accepted"})
        logger.info("inference.submit_accepted", extra={
            "event": "inference.submit_accepted", "request_id": job.id, "status": job.status, "tier": tier,
            "kind": kind, "queue_depth": sum(depth.values()) + 1})
        return job, True

    async def _refuse(self, job: Job, depth: dict[str, int]):
        rejected = job.model_copy(update={"status": "REJECTED", "error": "queue_full", "finished_at": time.time()})
        await asyncio.to_thread(self.store.create, rejected)
        job_metrics().submitted.inc(tags={"tier": job.tier, "result": "queue_full"})
        logger.warning("inference.submit_rejected", extra={
            "event": "inference.submit_rejected", "request_id": job.id, "status": "REJECTED", "result": "REJECTED",
            "reason": "queue_full", "queue_depth": sum(depth.values())})
        raise Refused(JobView.of(rejected, None))

    async def view(self, job_id: str, wait_s: float = 0, tenant: str | None = None) -> JobView:
        """The job as clients read it; with `wait_s`, once it is terminal or the wait is over. With a
        `tenant`, another tenant's job is as unknown as a job never submitted."""
        async def read() -> Job:
            job = await asyncio.to_thread(self.store.get, job_id)
            if job is None or tenant not in (None, job.tenant):
                raise UnknownJob(f"no job {job_id!r}: never submitted, or expired")
            return job

        job = await poll(read, lambda job: job.status in TERMINAL, wait_s)
        result = await asyncio.to_thread(self.store.result, job_id) if job.status in TERMINAL else None
        return JobView.of(job, result)

    async def cancel(self, job_id: str, tenant: str | None = None) -> JobView:
        """A queued job ends CANCELLED and never runs; a running one is cancelled in its deployment."""
        await self.view(job_id, tenant=tenant)  # another tenant's job is unknown
        if await asyncio.to_thread(self.store.cancel, job_id) is None:
            raise UnknownJob(f"no job {job_id!r}: never submitted, or expired")
        return await self.view(job_id)

    async def dead_letters(self) -> list[DeadLetter]:
        return await asyncio.to_thread(self.queue.dead_letters)

    async def requeue(self, job_id: str) -> JobView:
        """A dead letter's job back in its queue, as if newly submitted; UnknownJob if it is not one."""
        letters = [letter for letter in await self.dead_letters() if letter.job_id == job_id]
        removed = [await asyncio.to_thread(self.queue.remove_dead_letter, letter) for letter in letters]
        if not any(removed):
            raise UnknownJob(f"no dead letter for job {job_id!r}")
        job = await asyncio.to_thread(self.store.requeue, job_id, ("FAILED",))
        if job is None:
            raise UnknownJob(f"job {job_id!r} expired")
        await asyncio.to_thread(self.queue.send, job_id, job.tier)
        return await self.view(job_id)
