"""Job state in Redis, shared by every replica and surviving their restarts (and Redis's, with AOF).

`job:{id}` holds the Job as JSON with the job's TTL and changes only through one Lua transition, so the
ingress (cancel) and the consumers (claim, finish) never overwrite each other. What the client sent and got
back is kept apart and sealed (serve_app/jobs/sealing.py): `job:{id}:input` (the request body) until the
job ends (a dead letter's until it expires: it may be requeued), `job:{id}:result` for the job's TTL.
`job:{id}:lease` lives while a consumer runs the job: a redelivered job whose lease lapsed (its consumer
died) may run again, one whose lease is alive is a duplicate and is dropped. `batch:{id}` lists the jobs of
one batch request and expires with the oldest of them. Synchronous: the consumer runs in Celery's threads,
and the ingress calls it through `asyncio.to_thread`."""

import functools
import json
import time
import uuid

import redis

from serve_app.common.errors import JobStoreFull, JobStoreUnavailable
from serve_app.common.redis_client import sync_redis
from serve_app.jobs.model import Batch, Job, JobResult, JobStatus
from serve_app.jobs.sealing import Sealer
from serve_app.jobs.settings import JobSettings

# KEYS: job, lease. ARGV: allowed statuses (comma-separated), patch (JSON), "1" for a claim, queued-index
# prefix, the score a queued job takes in that index (its queued_at when empty). A claim counts an attempt
# and takes a RUNNING job only when its lease lapsed (a redelivery). The starvation guard resends what the
# index holds past its bound: a job queued again for a retry is scored when its retry is overdue, so the
# guard resends it only if Celery's retry message was lost (a copy sent earlier would run it outside
# Celery's count of its retries).
_TRANSITION = """
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local job = cjson.decode(raw)
local allowed = false
for status in string.gmatch(ARGV[1], '[^,]+') do
  if job.status == status then allowed = true end
end
if not allowed then return false end
if ARGV[3] == '1' then
  if job.status == 'RUNNING' then
    if redis.call('EXISTS', KEYS[2]) == 1 then return false end
    job.redeliveries = job.redeliveries + 1
  end
  job.attempts = job.attempts + 1
end
for key, value in pairs(cjson.decode(ARGV[2])) do job[key] = value end
local encoded = cjson.encode(job)
redis.call('SET', KEYS[1], encoded, 'KEEPTTL')
local queued = ARGV[4] .. job.tier
if job.status == 'QUEUED' then redis.call('ZADD', queued, ARGV[5] ~= '' and ARGV[5] or job.queued_at, job.id)
else redis.call('ZREM', queued, job.id) end
return encoded
"""
QUEUED_INDEX = "jobs:queued:"


def _available(method):
    """Redis errors become JobStoreUnavailable (503): a job API that cannot reach its store says so; Redis at
    its maxmemory (it refuses writes, never evicts) is JobStoreFull."""
    @functools.wraps(method)
    def call(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except redis.OutOfMemoryError as error:
            raise JobStoreFull() from error
        except redis.RedisError as error:
            raise JobStoreUnavailable() from error
    return call


class JobStore:
    def __init__(self, redis_url: str, settings: JobSettings):
        self.settings = settings
        self.redis = sync_redis(redis_url)
        self._transition = self.redis.register_script(_TRANSITION)
        key = settings.data_key.get_secret_value() if settings.data_key else None
        self._sealer = Sealer.from_settings(key, settings.data_key_file)

    @staticmethod
    def _key(job_id: str, part: str = "") -> str:
        return f"job:{job_id}{part}"

    @_available
    def check_room(self, body_bytes: int) -> None:
        """JobStoreFull (503) when Redis's memory with this body would pass its share of maxmemory: new work
        is refused before Redis must refuse writes (its maxmemory policy is noeviction: nothing is evicted)."""
        memory = self.redis.info("memory")
        budget = memory.get("maxmemory", 0) * self.settings.store_memory_share
        if budget and memory["used_memory"] + body_bytes > budget:
            raise JobStoreFull()

    @_available
    def create(self, job: Job) -> tuple[Job, bool]:
        """Stores a new job, and a queued one's request body; (the stored job, True), or (the existing one,
        False) when the id is taken."""
        ttl_ms = int(self.settings.ttl_s * 1000)
        if not self.redis.set(self._key(job.id), job.model_dump_json(), nx=True, px=ttl_ms):
            existing = self.get(job.id)
            if existing is not None:
                return existing, False
            return self.create(job)  # it expired in between
        if job.status == "QUEUED":
            sealed = self._sealer.seal(job.request.body, self._key(job.id, ":input"))
            self.redis.set(self._key(job.id, ":input"), sealed, px=ttl_ms)
            self.redis.zadd(QUEUED_INDEX + job.tier, {job.id: job.queued_at})
        return job, True

    @_available
    def discard(self, job_id: str) -> None:
        """Forget a job that was never queued (its message could not be sent)."""
        self.redis.delete(self._key(job_id), self._key(job_id, ":input"))
        for tier in ("high", "normal", "low"):
            self.redis.zrem(QUEUED_INDEX + tier, job_id)

    @_available
    def get(self, job_id: str) -> Job | None:
        """The job's state (its request without the body: see runnable)."""
        raw = self.redis.get(self._key(job_id))
        return None if raw is None else Job.model_validate_json(raw)

    @_available
    def runnable(self, job_id: str) -> tuple[Job | None, bool]:
        """(the job with its request body, True); (the job, False) when its body is gone (it ended, or was
        sealed under another key); (None, False) when the job expired."""
        raw, sealed = self.redis.mget(self._key(job_id), self._key(job_id, ":input"))
        job = None if raw is None else Job.model_validate_json(raw)
        body = None if sealed is None else self._sealer.open(sealed, self._key(job_id, ":input"))
        if job is None or body is None:
            return job, False
        job.request.body = body
        return job, True

    def _move(self, job_id: str, allowed: tuple[JobStatus, ...], patch: dict, attempt: bool = False,
              queued_score: float | None = None) -> Job | None:
        encoded = self._transition(keys=[self._key(job_id), self._key(job_id, ":lease")],
                                   args=[",".join(allowed), json.dumps(patch), "1" if attempt else "0", QUEUED_INDEX,
                                         "" if queued_score is None else repr(queued_score)])
        return None if encoded is None else Job.model_validate_json(encoded)

    @_available
    def claim(self, job_id: str) -> tuple[Job | None, str]:
        """RUNNING for this consumer, with a fresh lease: (the job, lease token); (None, "") when it is not
        runnable (finished, cancelled, or running under a live lease: a duplicate delivery)."""
        job = self._move(job_id, ("QUEUED", "RUNNING"), {"status": "RUNNING", "started_at": time.time()}, attempt=True)
        if job is None:
            return None, ""
        token = uuid.uuid4().hex
        self.redis.set(self._key(job_id, ":lease"), token, px=int(self.settings.lease_s * 1000))
        return job, token

    @_available
    def renew(self, job_id: str, token: str) -> None:
        self.redis.set(self._key(job_id, ":lease"), token, px=int(self.settings.lease_s * 1000))

    @_available
    def finish(self, job_id: str, status: JobStatus, error: str | None = None,
               http_status: int | None = None, keep_input: bool = False) -> Job | None:
        """The job's end; its request body is dropped unless `keep_input` (a dead letter, which may be requeued)."""
        job = self._move(job_id, ("RUNNING",), {"status": status, "error": error, "http_status": http_status,
                                                "finished_at": time.time()})
        ended = [self._key(job_id, ":lease"), self._key(job_id, ":cancel")]
        self.redis.delete(*ended, *([] if keep_input else [self._key(job_id, ":input")]))
        return job

    @_available
    def requeue(self, job_id: str, allowed: tuple[JobStatus, ...] = ("RUNNING",)) -> Job | None:
        """Back to QUEUED (a retry after a transient failure, or a dead letter an operator requeues); the
        starvation guard counts it from when its retry is overdue (the longest backoff and a margin)."""
        overdue_from = time.time() + self.settings.retry_backoff_max_s + self.settings.redelivery_margin_s
        job = self._move(job_id, allowed, {"status": "QUEUED", "error": None, "finished_at": None},
                         queued_score=overdue_from - self.settings.starvation_bound_s)
        self.redis.delete(self._key(job_id, ":lease"))
        return job

    @_available
    def cancel(self, job_id: str) -> Job | None:
        """A queued job is CANCELLED at once and never runs; a running one is flagged for its consumer."""
        job = self._move(job_id, ("QUEUED",), {"status": "CANCELLED", "error": "cancelled", "finished_at": time.time()})
        if job is not None:
            self.redis.delete(self._key(job_id, ":input"))
            return job
        job = self.get(job_id)
        if job is not None and job.status == "RUNNING":
            self.redis.set(self._key(job_id, ":cancel"), 1, px=int(self.settings.ttl_s * 1000))
        return job

    @_available
    def cancel_requested(self, job_id: str) -> bool:
        return bool(self.redis.exists(self._key(job_id, ":cancel")))

    @_available
    def save_result(self, job_id: str, result: JobResult) -> None:
        key = self._key(job_id, ":result")
        sealed = self._sealer.seal(result.model_dump_json().encode(), key)
        self.redis.set(key, sealed, px=int(self.settings.ttl_s * 1000))

    @_available
    def result(self, job_id: str) -> JobResult | None:
        return self.results([job_id]).get(job_id)

    @_available
    def jobs(self, job_ids: list[str]) -> list[Job | None]:
        """Many jobs in one round trip, in order; None for one that never was or expired."""
        raws = self.redis.mget([self._key(job_id) for job_id in job_ids]) if job_ids else []
        return [None if raw is None else Job.model_validate_json(raw) for raw in raws]

    @_available
    def results(self, job_ids: list[str]) -> dict[str, JobResult]:
        """The stored results of these jobs, by id (one round trip; a job without one is left out)."""
        keys = [self._key(job_id, ":result") for job_id in job_ids]
        opened = zip(job_ids, (self._sealer.open(sealed, key) if sealed else None
                               for key, sealed in zip(keys, self.redis.mget(keys) if keys else [])))
        return {job_id: JobResult.model_validate_json(raw) for job_id, raw in opened if raw is not None}

    @_available
    def create_batch(self, batch: Batch, oldest_queued_at: float) -> tuple[Batch, bool]:
        """Stores a new batch, to expire with its oldest job; (the stored batch, True), or (the existing
        one, False) when the id is taken."""
        ttl_ms = max(1, int((oldest_queued_at + self.settings.ttl_s - time.time()) * 1000))
        if self.redis.set(f"batch:{batch.id}", batch.model_dump_json(), nx=True, px=ttl_ms):
            return batch, True
        existing = self.batch(batch.id)
        return (existing, False) if existing is not None else self.create_batch(batch, oldest_queued_at)

    @_available
    def batch(self, batch_id: str) -> Batch | None:
        raw = self.redis.get(f"batch:{batch_id}")
        return None if raw is None else Batch.model_validate_json(raw)

    @_available
    def starving(self, tier: str, older_than: float) -> list[str]:
        """Ids of `tier` jobs still queued since before `older_than` (a time.time() value)."""
        return [member.decode() for member in self.redis.zrangebyscore(QUEUED_INDEX + tier, 0, older_than)]

    @_available
    def forget_starving(self, tier: str, job_id: str) -> None:
        self.redis.zrem(QUEUED_INDEX + tier, job_id)
