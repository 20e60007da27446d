"""JobStore against the real local Redis (test database 15): creation is idempotent, a claim takes a job
once (a duplicate delivery is dropped, a lapsed lease lets a redelivery run), cancel, requeue; what the
client sent and got back is sealed at rest and kept only as long as promised; the memory budget."""

import base64
import os
import time
import uuid

import pytest
import redis

from serve_app.common.errors import JobStoreFull
from serve_app.jobs.model import Job, JobRequest, JobResult
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
    assert stored.request.headers == {"content-type": "application/json"}
    assert store.runnable(first.id)[1] and store.runnable(first.id)[0].request.body == b'{"x": 1}'


PII = b'{"text": "call 010-1234-5678 or mail kim@example.com, RRN 900101-1234567"}'


def raw_values(job_id: str) -> bytes:
    """Everything Redis holds for the job, as a dump or AOF file would show it."""
    client = redis.Redis.from_url(TEST_REDIS_URL)
    return b"".join(client.get(key) or b"" for key in client.keys(f"job:{job_id}*"))


def test_what_the_client_sent_and_got_back_is_sealed_at_rest(store):
    sent = job().model_copy(update={"request": JobRequest.of("/v1/graphs/g", PII, {})})
    store.create(sent)
    store.save_result(sent.id, JobResult(http_status=200, media_type="application/json", body={"echo": PII.decode()}))
    at_rest = raw_values(sent.id)
    assert b"010-1234-5678" not in at_rest and b"kim@example.com" not in at_rest and b"900101" not in at_rest
    assert base64.b64encode(PII)[:24] not in at_rest  # not merely encoded
    assert store.runnable(sent.id)[0].request.body == PII and store.result(sent.id).body == {"echo": PII.decode()}
    # Another key (a replica given the wrong secret) opens nothing: the job is not run on garbage.
    stranger = JobStore(TEST_REDIS_URL, JobSettings(data_key=base64.b64encode(os.urandom(32)).decode()))
    assert stranger.runnable(sent.id) == (stranger.get(sent.id), False) and stranger.result(sent.id) is None


def test_a_body_is_kept_until_its_job_ends_a_dead_letters_until_it_expires(store):
    done, dead, cancelled = job(), job(), job()
    for item in (done, dead, cancelled):
        store.create(item)
    for item in (done, dead):
        store.claim(item.id)
    store.finish(done.id, "SUCCEEDED", http_status=200)
    store.finish(dead.id, "FAILED", "model_unavailable", keep_input=True)
    store.cancel(cancelled.id)
    assert [store.runnable(item.id)[1] for item in (done, dead, cancelled)] == [False, True, False]
    assert store.get(done.id).status == "SUCCEEDED"  # the job itself is still readable


def test_new_jobs_are_refused_past_the_memory_budget(store):
    maxmemory = redis.Redis.from_url(TEST_REDIS_URL).info("memory")["maxmemory"]
    if not maxmemory:
        pytest.skip(reason="this Redis was not started by `make redis` and has no maxmemory, so no budget to test")
    store.check_room(1024)  # an empty test database is far from 80 % of it
    with pytest.raises(JobStoreFull) as full:
        store.check_room(maxmemory)
    assert full.value.status == 503 and full.value.headers["Retry-After"]


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
