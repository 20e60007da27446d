"""Retry backoff and the circuit breaker's states, with a fake clock and sleep."""

import asyncio
import random
import time

import pytest
from pydantic import ValidationError

from serve_app.common.errors import InvalidRequest, OutOfMemory
from serve_app.common.resilience import BreakerPolicy, CircuitBreaker, RetryPolicy, call_with_retries


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _run(call, policy: RetryPolicy, **kwargs):
    """Run call_with_retries with a recording fake sleep; returns (result or error, sleeps)."""
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def scenario():
        try:
            return await call_with_retries(call, policy, sleep=sleep, **kwargs)
        except Exception as error:
            return error

    return asyncio.run(scenario()), sleeps


def test_delay_doubles_per_retry_and_is_capped():
    policy = RetryPolicy(backoff_s=0.1, max_backoff_s=0.5, jitter=0)
    assert [policy.delay(retry, random.Random(0)) for retry in range(1, 6)] == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])


def test_jitter_stays_within_its_bounds():
    policy = RetryPolicy(backoff_s=1, max_backoff_s=1, jitter=0.3)
    delays = [policy.delay(1, random.Random(seed)) for seed in range(500)]
    assert all(0.7 <= delay <= 1.3 for delay in delays)
    assert max(delays) - min(delays) > 0.4  # it does vary


def test_policies_reject_unknown_and_out_of_range_fields():
    with pytest.raises(ValidationError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValidationError):
        RetryPolicy(retries=3)
    with pytest.raises(ValidationError):
        BreakerPolicy(window_s=0)


def test_retries_stop_at_attempts_and_sleep_the_backoff_sequence():
    attempts: list[int] = []
    retries: list[tuple[int, float]] = []

    async def call(attempt: int):
        attempts.append(attempt)
        raise TimeoutError("slow")

    policy = RetryPolicy(attempts=4, backoff_s=0.1, max_backoff_s=10, jitter=0)
    error, sleeps = _run(call, policy, on_retry=lambda retry, error, delay: retries.append((retry, delay)))
    assert isinstance(error, TimeoutError)
    assert attempts == [1, 2, 3, 4]
    assert sleeps == pytest.approx([0.1, 0.2, 0.4])
    assert retries == [(1, pytest.approx(0.1)), (2, pytest.approx(0.2)), (3, pytest.approx(0.4))]


def test_no_retry_whose_backoff_would_end_past_the_deadline():
    attempts: list[int] = []

    async def call(attempt: int):
        attempts.append(attempt)
        raise ConnectionError("reset")

    policy = RetryPolicy(attempts=5, backoff_s=0.1, max_backoff_s=10, jitter=0)
    # The fake sleep takes no time, so each wait is measured from now: 0.1 and 0.2 end before the
    # deadline, 0.4 would end past it.
    error, sleeps = _run(call, policy, deadline=time.monotonic() + 0.3)
    assert isinstance(error, ConnectionError)
    assert attempts == [1, 2, 3] and sleeps == pytest.approx([0.1, 0.2])


def test_a_later_success_is_returned():
    async def call(attempt: int) -> str:
        if attempt < 3:
            raise ConnectionError("reset")
        return f"ok on {attempt}"

    result, sleeps = _run(call, RetryPolicy(attempts=5, jitter=0))
    assert result == "ok on 3"
    assert len(sleeps) == 2


def test_one_attempt_means_no_retry():
    async def call(attempt: int):
        raise TimeoutError

    error, sleeps = _run(call, RetryPolicy())
    assert isinstance(error, TimeoutError) and sleeps == []


@pytest.mark.parametrize("raised", [InvalidRequest("too long"), ValueError("bad"), OutOfMemory()])
def test_non_retryable_errors_propagate_unchanged_after_one_try(raised):
    attempts: list[int] = []

    async def call(attempt: int):
        attempts.append(attempt)
        raise raised

    error, sleeps = _run(call, RetryPolicy(attempts=5))
    assert error is raised
    assert attempts == [1] and sleeps == []


def test_cancellation_is_never_retried():
    async def call(attempt: int):
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        _run(call, RetryPolicy(attempts=3))


def _breaker(failures=3, window_s=10, open_s=5) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    return CircuitBreaker(BreakerPolicy(failures=failures, window_s=window_s, open_s=open_s), clock), clock


def _opened() -> tuple[CircuitBreaker, Clock]:
    breaker, clock = _breaker()
    for _ in range(3):
        breaker.record_failure()
    return breaker, clock


def test_breaker_opens_after_failures_within_the_window():
    breaker, clock = _breaker()
    for _ in range(2):
        breaker.record_failure()
        clock.now += 4
    assert breaker.state == "closed" and breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open"
    assert not breaker.allow()


def test_failures_spread_wider_than_the_window_do_not_open_it():
    breaker, clock = _breaker()
    for _ in range(10):
        breaker.record_failure()
        clock.now += 6  # every third failure is 12 s after the first of the three
    assert breaker.state == "closed" and breaker.allow()


def test_open_breaker_rejects_until_open_s_then_lets_exactly_one_probe():
    breaker, clock = _opened()
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.state == "half_open"
    assert breaker.allow()
    assert not breaker.allow() and not breaker.allow()


def test_probe_success_closes_and_forgets_failures():
    breaker, clock = _opened()
    clock.now += 5
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == "closed"


def test_probe_failure_reopens_and_restarts_the_timer():
    breaker, clock = _opened()
    clock.now += 5
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()


def test_a_probe_that_never_reports_is_replaced_after_open_s():
    breaker, clock = _opened()
    clock.now += 5
    assert breaker.allow()
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()


def test_late_outcomes_while_open_change_nothing():
    breaker, clock = _opened()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "open"
    clock.now += 5
    assert breaker.state == "half_open"
