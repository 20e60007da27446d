"""Per-key rate limits by tier, shared by every replica through Redis (the `limits` library: each check
is one atomic Lua script, so bursts spread over replicas cannot overshoot). Requests per second and per
minute use a sliding window counter; LLM tokens per minute a fixed window that is always charged, so a
request that overran the budget still counts and the next one waits."""

import asyncio
import logging
import math
import time
from typing import Literal

from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import FixedWindowRateLimiter, SlidingWindowCounterRateLimiter
from pydantic import BaseModel, ConfigDict, Field
from redis.exceptions import RedisError

from serve_app.common.errors import AuthUnavailable, RateLimited
from serve_app.common.redis_client import async_pool
from serve_app.security.caller import Caller

logger = logging.getLogger("ray.serve")
STORE_TIMEOUT_S = 1.0
# Checks share this many connections per replica and queue for them: a burst of hundreds of requests would
# otherwise open hundreds of connections at once, and their set-up (not Redis) is what times out.
STORE_CONNECTIONS = 16


class TierLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requests_per_second: int = Field(ge=1)
    requests_per_minute: int = Field(ge=1)
    # LLM prompt + completion tokens per minute (S1 §6's tokens, counted after each answer).
    tokens_per_minute: int = Field(ge=1)


def _default_tiers() -> dict[str, TierLimits]:
    return {"high": TierLimits(requests_per_second=1000, requests_per_minute=60_000, tokens_per_minute=1_000_000),
            "normal": TierLimits(requests_per_second=50, requests_per_minute=1500, tokens_per_minute=50_000),
            "low": TierLimits(requests_per_second=10, requests_per_minute=300, tokens_per_minute=10_000)}


class RateLimitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    # Redis down: `open` serves without limits (logged), `closed` answers 503 with Retry-After.
    on_store_error: Literal["open", "closed"] = "open"
    tiers: dict[Literal["high", "normal", "low"], TierLimits] = Field(default_factory=_default_tiers)


class RateLimiter:
    def __init__(self, redis_url: str, config: RateLimitConfig):
        self.redis_url, self.config = redis_url, config
        self._storage = None

    def _strategies(self):
        # The async client belongs to the event loop that made it: made on first use, on the serving loop.
        if self._storage is None:
            pool = async_pool(self.redis_url, STORE_CONNECTIONS, STORE_TIMEOUT_S)
            self._storage = RedisStorage(f"async+{self.redis_url}", implementation="redispy", key_prefix="platform-rl",
                                         connection_pool=pool)
            self._requests = SlidingWindowCounterRateLimiter(self._storage)
            self._tokens = FixedWindowRateLimiter(self._storage)
        return self._requests, self._tokens

    def policy(self, caller: Caller) -> str:
        """The IETF RateLimit-Policy header: the caller's quotas (q) over their windows (w, seconds)."""
        tier = self.config.tiers[caller.tier]
        return (f'"per-second";q={tier.requests_per_second};w=1, "per-minute";q={tier.requests_per_minute};w=60, '
                f'"tokens";q={tier.tokens_per_minute};w=60')

    async def admit(self, caller: Caller, llm: bool) -> None:
        """Count one request of this key; raises RateLimited over a limit (and for an LLM request when the
        key's tokens this minute are spent)."""
        if not self.config.enabled:
            return
        tier = self.config.tiers[caller.tier]
        requests = self._strategies()[0]
        # (name, item, strategy, namespace, counted): a request is counted; tokens are only tested here.
        checks = [("per-second", RateLimitItemPerSecond(tier.requests_per_second), requests, "requests", True),
                  ("per-minute", RateLimitItemPerMinute(tier.requests_per_minute), requests, "requests", True)]
        await self._check(checks + (self._tokens_check(caller) if llm else []), caller)

    async def admit_tokens(self, caller: Caller) -> None:
        """RateLimited when the key's LLM tokens this minute are spent (nothing is counted)."""
        if self.config.enabled:
            await self._check(self._tokens_check(caller), caller)

    def _tokens_check(self, caller: Caller) -> list:
        item = RateLimitItemPerMinute(self.config.tiers[caller.tier].tokens_per_minute)
        return [("tokens", item, self._strategies()[1], "tokens", False)]

    async def admit_more(self, caller: Caller, count: int) -> None:
        """Count `count` more requests of this key in its per-minute window only (a batch's jobs beyond the one
        request admit() counted: the per-second window is a burst guard on HTTP requests, and a batch is one).
        Raises RateLimited, counting none of them, when they do not all fit."""
        if not self.config.enabled or count < 1:
            return
        item = RateLimitItemPerMinute(self.config.tiers[caller.tier].requests_per_minute)
        await self._check([("per-minute", item, self._strategies()[0], "requests", True)], caller, cost=count)

    async def _check(self, checks: list, caller: Caller, cost: int = 1) -> None:
        """(name, item, strategy, namespace, counted) each: a counted one is hit with `cost`, the others
        only tested; RateLimited on the first that does not fit."""
        try:
            for name, item, strategy, namespace, counted in checks:
                fits = (await strategy.hit(item, namespace, caller.key_id, cost=cost) if counted
                        else await strategy.test(item, namespace, caller.key_id))
                if not fits:
                    raise await self._refusal(strategy, namespace, name, item, caller)
        except (RedisError, OSError, asyncio.TimeoutError) as error:
            self._store_failed(error)

    async def charge(self, caller: Caller, count: int) -> None:
        """Charge LLM tokens to the key (always counted, even past the budget)."""
        if not self.config.enabled:
            return
        item = RateLimitItemPerMinute(self.config.tiers[caller.tier].tokens_per_minute)
        try:
            await self._strategies()[1].hit(item, "tokens", caller.key_id, cost=count)
        except Exception as error:  # accounting never fails an answer already made
            logger.warning("token usage not counted: rate limit store unavailable", extra={"detail": repr(error)})

    async def _refusal(self, strategy, namespace: str, name: str, item: RateLimitItem, caller: Caller) -> RateLimited:
        stats = await strategy.get_window_stats(item, namespace, caller.key_id)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        headers = {"Retry-After": str(retry_after), "RateLimit-Policy": self.policy(caller),
                   "RateLimit": f'"{name}";r={max(0, stats.remaining)};t={retry_after}'}
        return RateLimited(f"rate limit {name} of this API key's tier ({caller.tier}) reached; retry after "
                           f"{retry_after} s", headers)

    def _store_failed(self, error: BaseException) -> None:
        logger.warning("rate limit store unavailable", extra={"detail": repr(error), "rule": self.config.on_store_error})
        if self.config.on_store_error == "closed":
            raise AuthUnavailable("the rate limit store is unavailable; retry shortly") from None
