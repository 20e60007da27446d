"""AnalysisLock against the real local Redis (test database 15): duplicates, reuse window, release."""

import asyncio
import uuid

import pytest
import redis

from serve_app.common.analysis_lock import AnalysisLock
from serve_app.common.errors import DuplicateAnalysis, LockStoreUnavailable

# A Redis database of its own, so tests never touch what a running platform serves from database 0.
TEST_REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def prefix():
    """A prefix no other test uses; its keys are deleted afterwards."""
    name = f"test-analysis-{uuid.uuid4().hex}"
    yield name
    with redis.Redis.from_url(TEST_REDIS_URL) as client:
        for key in client.scan_iter(f"{name}:*"):
            client.delete(key)


class Analysis:
    """A compute function that counts its calls and, when `hold` is set, waits for `release`."""

    def __init__(self, result: dict, hold: bool = False):
        self.result, self.calls = result, 0
        self.started, self.release = asyncio.Event(), asyncio.Event()
        if not hold:
            self.release.set()

    async def __call__(self) -> dict:
        self.calls += 1
        self.started.set()
        await self.release.wait()
        return self.result


def stored(name: str) -> bytes | None:
    """A key's value in the test database, read apart from the AnalysisLock under test."""
    with redis.Redis.from_url(TEST_REDIS_URL) as client:
        return client.get(name)


def lock_key(prefix: str, key: str) -> bytes | None:
    return stored(f"{prefix}:lock:{key}")


def test_same_key_while_running_is_a_duplicate_and_another_key_runs(prefix):
    async def scenario():
        lock = AnalysisLock(TEST_REDIS_URL, prefix=prefix)
        first = Analysis({"score": 1}, hold=True)
        running = asyncio.create_task(lock.run("user-1", first))
        await first.started.wait()
        with pytest.raises(DuplicateAnalysis) as duplicate:
            await lock.run("user-1", Analysis({"score": 2}))
        other = await lock.run("user-2", Analysis({"score": 3}))
        first.release.set()
        result = await running
        await lock.close()
        return duplicate.value, other, result

    duplicate, other, result = asyncio.run(scenario())
    assert duplicate.status == 409 and "'user-1' is already running" in duplicate.detail
    assert other == {"score": 3, "reused": False}
    assert result == {"score": 1, "reused": False}
    assert lock_key(prefix, "user-1") is None


def test_success_is_reused_inside_the_window(prefix):
    async def scenario():
        lock = AnalysisLock(TEST_REDIS_URL, prefix=prefix)
        analysis = Analysis({"score": 0.5, "items": [1, 2]})
        results = [await lock.run("user-1", analysis), await lock.run("user-1", analysis)]
        await lock.close()
        return analysis.calls, results

    calls, results = asyncio.run(scenario())
    assert calls == 1
    assert results == [{"score": 0.5, "items": [1, 2], "reused": False},
                       {"score": 0.5, "items": [1, 2], "reused": True}]


def test_after_the_window_it_computes_again(prefix):
    async def scenario():
        lock = AnalysisLock(TEST_REDIS_URL, reuse_window_s=0.2, prefix=prefix)
        analysis = Analysis({"score": 1})
        await lock.run("user-1", analysis)
        await asyncio.sleep(0.3)
        again = await lock.run("user-1", analysis)
        await lock.close()
        return analysis.calls, again

    assert asyncio.run(scenario()) == (2, {"score": 1, "reused": False})


def test_failed_compute_stores_nothing_and_releases_the_lock(prefix):
    async def failing() -> dict:
        raise RuntimeError("model exploded")

    async def scenario():
        lock = AnalysisLock(TEST_REDIS_URL, prefix=prefix)
        with pytest.raises(RuntimeError, match="exploded"):
            await lock.run("user-1", failing)
        assert lock_key(prefix, "user-1") is None
        assert stored(f"{prefix}:result:user-1") is None
        retry = await lock.run("user-1", Analysis({"score": 1}))
        await lock.close()
        return retry

    assert asyncio.run(scenario()) == {"score": 1, "reused": False}


def test_a_run_longer_than_its_lease_keeps_its_lock(prefix):
    async def scenario():
        lock = AnalysisLock(TEST_REDIS_URL, lock_ttl_s=0.3, prefix=prefix)
        slow = Analysis({"run": 1}, hold=True)
        first_run = asyncio.create_task(lock.run("user-1", slow))
        await slow.started.wait()
        await asyncio.sleep(1.0)  # three leases: renewed all along
        with pytest.raises(DuplicateAnalysis):
            await lock.run("user-1", Analysis({"run": 2}))
        slow.release.set()
        await first_run
        await lock.close()

    asyncio.run(scenario())
    assert lock_key(prefix, "user-1") is None


def test_a_run_that_lost_its_lease_neither_stores_nor_releases_the_next_runs_lock(prefix):
    async def scenario():
        first, second = (AnalysisLock(TEST_REDIS_URL, lock_ttl_s=30, prefix=prefix) for _ in range(2))
        slow, next_run = Analysis({"run": 1}, hold=True), Analysis({"run": 2}, hold=True)
        first_run = asyncio.create_task(first.run("user-1", slow))
        await slow.started.wait()
        with redis.Redis.from_url(TEST_REDIS_URL) as client:  # its lease lapsed (a replica stalled)
            client.delete(f"{prefix}:lock:user-1")
        second_run = asyncio.create_task(second.run("user-1", next_run))
        await next_run.started.wait()
        held_by_second = lock_key(prefix, "user-1")
        slow.release.set()
        late = await first_run
        after_late_release = lock_key(prefix, "user-1")
        stored_by_late = stored(f"{prefix}:result:user-1")
        next_run.release.set()
        await second_run
        await first.close()
        await second.close()
        return late, held_by_second, after_late_release, stored_by_late

    late, held_by_second, after_late_release, stored_by_late = asyncio.run(scenario())
    assert late == {"run": 1, "reused": False}  # its caller still gets its answer
    assert held_by_second is not None and after_late_release == held_by_second
    assert stored_by_late is None  # fenced: the lapsed run's result is not the key's result
    assert lock_key(prefix, "user-1") is None


def test_a_redis_that_cannot_answer_is_a_503_and_compute_never_runs():
    analysis = Analysis({"summary": "x"})
    lock = AnalysisLock("redis://127.0.0.1:1/0")  # nothing listens on port 1
    with pytest.raises(LockStoreUnavailable) as refused:
        asyncio.run(lock.run("r-1", analysis))
    assert refused.value.status == 503 and analysis.calls == 0
