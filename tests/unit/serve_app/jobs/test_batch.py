"""Batches of jobs against the real local Redis (test database 15, a queue of each test's own that no consumer
takes): items checked as single jobs are, all or none submitted, stored once, read back together."""

import asyncio
import time
import uuid

import pytest
import redis

from graphs.runner import GraphRunner
from graphs.spec import GraphSpec
from serve_app.common.errors import QueueFull, RateLimited, UnknownBatch, UnknownGraph, ValidationFailed
from serve_app.jobs.batch import check_items, submit_batch, view_batch
from serve_app.jobs.model import Batch, BatchView, Job, JobRequest, JobResult
from serve_app.jobs.service import JobService
from serve_app.jobs.settings import JobSettings
from tests.unit.fakes import FakeHandle

TEST_REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def service(monkeypatch):
    """A JobService whose store and broker are test database 15, with a queue of its own."""
    monkeypatch.setenv("PLATFORM_REDIS_URL", TEST_REDIS_URL)
    settings = JobSettings(queue_name=f"unit-batch-{uuid.uuid4().hex[:8]}", max_queued=5, ttl_s=60)
    yield JobService(TEST_REDIS_URL, settings)
    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.delete(*client.keys(f"{settings.queue_name}*") or ["none"])


def runner() -> GraphRunner:
    spec = GraphSpec.model_validate({
        "root": "a", "input": {"restaurant_id": {"type": "string", "min_length": 1}, "analysis": {"type": "string"}},
        "dedupe": {"key": ["$input.restaurant_id", "$input.analysis"]},
        "nodes": {"a": {"kind": "model", "deployment": "m", "args": ["$input"]}}})
    return GraphRunner({"reviews": spec}, {"m": FakeHandle()}, TEST_REDIS_URL)


def request(number: int) -> JobRequest:
    return JobRequest.of("/v1/graphs/reviews", f'{{"restaurant_id": "r{number}"}}'.encode(), {})


def test_each_item_is_checked_as_a_single_job_and_named_by_its_index():
    graphs = runner()
    check_items(graphs, "reviews", [{"restaurant_id": "r1", "analysis": "a"},
                                    {"restaurant_id": "r1", "analysis": "b"}])  # another analysis: another key
    with pytest.raises(ValidationFailed) as refused:
        check_items(graphs, "reviews", [{"restaurant_id": "r1", "analysis": "a"}, {"restaurant_id": "", "analysis": "a"},
                                        {"restaurant_id": "r2", "analysis": "a", "extra": 1},
                                        {"restaurant_id": "r1", "analysis": "a"}])
    fields = [error["field"] for error in refused.value.errors]
    assert fields == ["items.1.restaurant_id", "items.2.extra", "items.3"]
    assert "item 0" in refused.value.errors[-1]["message"]  # the same run twice would fail 409
    with pytest.raises(UnknownGraph):
        check_items(graphs, "nonesuch", [{}])


def test_a_batch_view_counts_every_status_and_is_done_once_every_job_ended():
    def job(status: str) -> Job:
        return Job(id=f"b.{status}", kind="graph", status=status, timeout_s=5, queued_at=1.0, request=request(0))

    batch = Batch(id="b", graph="reviews", job_ids=["b.RUNNING", "b.SUCCEEDED"], created_at=1.0)
    result = JobResult(http_status=200, media_type="application/json", body={"ok": True})
    running = BatchView.of(batch, [job("RUNNING"), job("SUCCEEDED")], {"b.SUCCEEDED": result})
    assert running.done is False and running.counts["RUNNING"] == running.counts["SUCCEEDED"] == 1
    assert running.counts["QUEUED"] == 0 and len(running.counts) == 6
    assert [view.result for view in running.jobs] == [None, {"ok": True}]
    assert BatchView.of(batch, [job("FAILED"), job("CANCELLED")], {}).done is True


def test_a_batch_submits_a_job_per_item_in_order_once(service):
    admitted = []

    async def admit(count: int) -> None:
        admitted.append(count)

    async def scenario():
        batch_id = f"unit-{uuid.uuid4().hex[:8]}"
        view, created = await submit_batch(service, "reviews", [request(n) for n in range(3)], batch_id, admit=admit,
                                           tenant="t", tier="low")
        again, created_again = await submit_batch(service, "reviews", [request(0)], batch_id, admit=admit, tenant="t")
        with pytest.raises(ValidationFailed):  # another tenant's id
            await submit_batch(service, "reviews", [request(0)], batch_id, admit=admit, tenant="other")
        return batch_id, view, created, again, created_again

    batch_id, view, created, again, created_again = asyncio.run(scenario())
    assert created and [job.requestId for job in view.jobs] == [f"{batch_id}.{n}" for n in range(3)]
    assert view.counts["QUEUED"] == 3 and not view.done and {job.tier for job in view.jobs} == {"low"}
    assert service.queue.depth()["low"] == 3
    assert not created_again and again == view and admitted == [3]  # the existing batch: nothing charged again


@pytest.mark.parametrize("refusal", ["rate_limited", "queue_full"])
def test_a_batch_that_is_refused_submits_nothing(service, refusal):
    async def admit(count: int) -> None:
        if refusal == "rate_limited":
            raise RateLimited("over the limit")

    batch_id = f"unit-{uuid.uuid4().hex[:8]}"
    items = 3 if refusal == "rate_limited" else 6  # the queue takes 5
    with pytest.raises(RateLimited if refusal == "rate_limited" else QueueFull):
        asyncio.run(submit_batch(service, "reviews", [request(n) for n in range(items)], batch_id, admit=admit,
                                 tenant="t"))
    assert service.store.batch(batch_id) is None and service.store.jobs([f"{batch_id}.0"]) == [None]
    assert sum(service.queue.depth().values()) == 0


def test_reading_a_batch_waits_for_its_end_and_carries_each_result(service):
    async def noop(count: int) -> None:
        pass

    async def scenario():
        batch_id = f"unit-{uuid.uuid4().hex[:8]}"
        await submit_batch(service, "reviews", [request(n) for n in range(2)], batch_id, admit=noop, tenant="t")
        for n in range(2):
            service.store.claim(f"{batch_id}.{n}")
        service.store.save_result(f"{batch_id}.0", JobResult(http_status=200, body={"restaurant_id": "r0"}))
        service.store.finish(f"{batch_id}.0", "SUCCEEDED", http_status=200)
        # The second ends while the reader waits.
        asyncio.get_running_loop().call_later(0.3, service.store.finish, f"{batch_id}.1", "FAILED", "timeout")
        started = time.monotonic()
        view = await view_batch(service, batch_id, wait_s=5, tenant="t")
        waited = time.monotonic() - started
        for tenant, unknown in (("other", batch_id), (None, "nobody")):
            with pytest.raises(UnknownBatch):
                await view_batch(service, unknown, tenant=tenant)
        return view, waited

    view, waited = asyncio.run(scenario())
    assert view.done and 0.3 <= waited < 2
    assert (view.counts["SUCCEEDED"], view.counts["FAILED"]) == (1, 1)
    assert view.jobs[0].result == {"restaurant_id": "r0"} and view.jobs[1].error == "timeout"


def test_a_batch_is_stored_once_and_expires_with_its_oldest_job(service):
    store = service.store
    batch = Batch(id=f"unit-{uuid.uuid4().hex[:8]}", graph="reviews", job_ids=["a"], created_at=time.time())
    assert store.create_batch(batch, oldest_queued_at=time.time() - 30) == (batch, True)
    other = batch.model_copy(update={"job_ids": ["b"]})
    assert store.create_batch(other, oldest_queued_at=time.time()) == (batch, False)
    assert 28_000 < store.redis.pttl(f"batch:{batch.id}") <= 30_000  # 60 s TTL, the oldest job 30 s old
