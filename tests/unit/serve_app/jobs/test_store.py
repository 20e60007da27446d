"""JobStore against the real local Redis (test database 15): creation is idempotent, a claim takes a job
once (a duplicate delivery is dropped, a lapsed lease lets a redelivery run), cancel, requeue."""

import time
import uuid

import pytest
import redis

from serve_app.jobs.model import Job, JobRequest
from serve_app.jobs.settings import JobSettings
from serve_app.jobs.store import JobStore

TEST_REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def store():
    yield JobStore(TEST_REDIS_URL, JobSettings(lease_s=0.3, ttl_s=60))


def job(tier: str = "normal") -> Job:
    return Job(id=f"unit-{uuid.uuid4().hex}", kind="graph", tier=tier, timeout_s=5, queued_at=time.time(),
               request=JobRequest.of("/v1/graphs/g", b'{"x": 1}', {"content-type": "application/json", "cookie": "c"}))


def test_creation_is_idempotent_and_keeps_only_replayable_headers(store):
    first = job()
    assert store.create(first) == (first, True)
    stored, created = store.create(first.model_copy(update={"tier": "high"}))
    assert not created and stored.tier == "normal"
    assert stored.request.headers == {"content-type": "application/json"} and stored.request.body() == b'{"x": 1}'


def test_a_claim_takes_a_job_once_until_its_lease_lapses(store):
    queued = job()
    store.create(queued)
    claimed, lease = store.claim(queued.id)
    assert claimed.status == "RUNNING" and claimed.attempts == 1 and lease
    assert store.claim(queued.id) == (None, "")  # a duplicate delivery while the consumer lives
    store.renew(queued.id, lease)
    time.sleep(0.4)  # the consumer died: its lease lapses
    again, _ = store.claim(queued.id)
    assert again.attempts == 2 and again.redeliveries == 1
    finished = store.finish(queued.id, "SUCCEEDED", http_status=200)
    assert finished.status == "SUCCEEDED" and finished.finished_at >= finished.started_at
    assert store.claim(queued.id) == (None, "")  # a late redelivery of a finished job


def test_cancel_ends_a_queued_job_and_flags_a_running_one(store):
    queued, running = job(), job()
    for item in (queued, running):
        store.create(item)
    store.claim(running.id)
    assert store.cancel(queued.id).status == "CANCELLED"
    assert store.claim(queued.id) == (None, "")  # it never runs
    assert store.cancel(running.id).status == "RUNNING" and store.cancel_requested(running.id)
    assert store.cancel("nobody") is None


def test_requeue_and_the_starving_index(store):
    low = job("low")
    store.create(low)
    assert low.id in store.starving("low", time.time())
    store.claim(low.id)
    assert low.id not in store.starving("low", time.time())
    store.requeue(low.id)
    back = store.get(low.id)
    # Queued again for a retry: Celery's backoff schedules it; the starvation guard only once it is overdue.
    assert back.status == "QUEUED" and back.attempts == 1 and low.id not in store.starving("low", time.time())
    overdue = time.time() + store.settings.retry_backoff_max_s + store.settings.redelivery_margin_s + 1
    assert low.id in store.starving("low", overdue - store.settings.starvation_bound_s)


def test_redis_down_is_a_503_not_a_hang():
    from serve_app.common.errors import JobStoreUnavailable

    absent = JobStore("redis://127.0.0.1:1/0", JobSettings())
    started = time.perf_counter()
    with pytest.raises(JobStoreUnavailable):
        absent.get("x")
    assert time.perf_counter() - started < 5
    redis.Redis.from_url(TEST_REDIS_URL).ping()
