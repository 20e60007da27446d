"""Per-node resilience for the graph executor: retry with capped, jittered exponential backoff and a
sliding-window circuit breaker; which errors are retryable is the errors module's call."""

import asyncio
import random
import time
from collections import deque
from typing import Awaitable, Callable, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from serve_app.common.errors import is_retryable

T = TypeVar("T")


class RetryPolicy(BaseModel):
    """How often a node is tried (`attempts` in total) and how long to wait between tries."""

    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(1, ge=1, le=10)
    backoff_s: float = Field(0.05, ge=0)
    max_backoff_s: float = Field(2.0, ge=0)
    jitter: float = Field(0.5, ge=0, le=1)

    def delay(self, retry: int, rng: random.Random) -> float:
        """Seconds to wait before retry number `retry` (1, 2, ...)."""
        base = min(self.max_backoff_s, self.backoff_s * 2 ** (retry - 1))
        # Jitter spreads retries of many requests that failed together, so they do not return in lockstep.
        return base * (1 + rng.uniform(-self.jitter, self.jitter))


class BreakerPolicy(BaseModel):
    """`failures` within `window_s` open the breaker; after `open_s` one half-open probe may pass."""

    model_config = ConfigDict(extra="forbid")

    failures: int = Field(5, ge=1)
    window_s: float = Field(60, gt=0)
    open_s: float = Field(10, gt=0)


class CircuitBreaker:
    """Stops calling a failing node for a while; ask `allow()` before a call, then record its outcome."""

    def __init__(self, policy: BreakerPolicy, clock: Callable[[], float] = time.monotonic):
        self.policy, self._clock = policy, clock
        self._failures: deque[float] = deque()
        self._opened_at: float | None = None
        self._probe_at: float | None = None

    @property
    def state(self) -> Literal["closed", "open", "half_open"]:
        if self._opened_at is None:
            return "closed"
        return "open" if self._clock() - self._opened_at < self.policy.open_s else "half_open"

    def allow(self) -> bool:
        state = self.state
        if state != "half_open":
            return state == "closed"
        now = self._clock()
        # A probe that never reported (its caller was cancelled) would wedge the breaker half-open
        # for good, so after another open_s it is presumed lost and a new probe may go.
        if self._probe_at is not None and now - self._probe_at < self.policy.open_s:
            return False
        self._probe_at = now
        return True

    def record_success(self) -> None:
        # While open, a success can only come from a call admitted before the breaker opened.
        if self.state == "half_open":
            self._failures.clear()
            self._opened_at = self._probe_at = None

    def record_failure(self) -> None:
        state, now = self.state, self._clock()
        if state == "half_open":
            self._open(now)
        elif state == "closed":
            self._failures.append(now)
            while now - self._failures[0] > self.policy.window_s:
                self._failures.popleft()
            if len(self._failures) >= self.policy.failures:
                self._open(now)

    def _open(self, now: float) -> None:
        self._failures.clear()
        self._opened_at, self._probe_at = now, None


async def call_with_retries(call: Callable[[int], Awaitable[T]], policy: RetryPolicy, *,
                            retryable: Callable[[BaseException], bool] = is_retryable,
                            sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                            rng: random.Random | None = None,
                            on_retry: Callable[[int, BaseException, float], None] | None = None,
                            deadline: float | None = None) -> T:
    """Await `call(attempt)` for attempt 1..policy.attempts until it succeeds; the last error propagates,
    also as soon as the next backoff would end past `deadline` (a time.monotonic() value)."""
    rng = rng or random.Random()
    attempt = 1
    while True:
        try:
            return await call(attempt)
        except Exception as error:
            if attempt >= policy.attempts or not retryable(error):
                raise
            wait = policy.delay(attempt, rng)
            if deadline is not None and time.monotonic() + wait >= deadline:
                raise
            if on_retry is not None:
                on_retry(attempt, error, wait)
            await sleep(wait)
        attempt += 1
