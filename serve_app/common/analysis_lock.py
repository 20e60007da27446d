"""S2's duplicate-work rule for expensive analyses, shared by every replica through Redis.

One key runs once at a time (a second caller gets DuplicateAnalysis, 409), and a success is reused
for `reuse_window_s`. Keys: `{prefix}:lock:{key}` holds the running run's token,
`{prefix}:result:{key}` the last result as JSON.

The lock is a lease of `lock_ttl_s`, renewed every third of it while the run lives: a replica killed
mid-run frees its key within one lease, not after the longest run. Every write checks the token (a fence):
a run whose lease lapsed neither renews, nor stores, nor releases another run's lock."""

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as redis

from serve_app.common.errors import DuplicateAnalysis, LockStoreUnavailable
from serve_app.common.redis_client import async_redis

logger = logging.getLogger("ray.serve")
# Each runs only while the lock still holds our token: after our lease lapsed another run may own it.
_RELEASE = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("del", KEYS[1])
end
return 0
"""
_RENEW = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("pexpire", KEYS[1], ARGV[2])
end
return 0
"""
_STORE_RESULT = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("set", KEYS[2], ARGV[2], "PX", ARGV[3])
end
return 0
"""


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class AnalysisLock:
    """Runs `compute` for a key at most once at a time across replicas, and reuses recent results."""

    def __init__(self, redis_url: str, lock_ttl_s: float = 10, reuse_window_s: float = 600,
                 prefix: str = "analysis"):
        self.lock_ttl_s = lock_ttl_s
        self.reuse_window_s = reuse_window_s
        self.prefix = prefix
        self._redis = async_redis(redis_url)
        self._release = self._redis.register_script(_RELEASE)
        self._renew = self._redis.register_script(_RENEW)
        self._store_result = self._redis.register_script(_STORE_RESULT)

    async def run(self, key: str, compute: Callable[[], Awaitable[dict]]) -> dict:
        """A recent result of `key` (`reused` True), else `compute()`'s, stored for the reuse window."""
        reused = await self._recent(key)
        if reused is not None:
            return reused
        lock, token = f"{self.prefix}:lock:{key}", uuid.uuid4().hex
        if not await self._store(self._redis.set(lock, token, nx=True, px=_ms(self.lock_ttl_s))):
            raise DuplicateAnalysis(f"analysis {key!r} is already running")
        renewing = asyncio.create_task(self._keep(lock, token))
        try:
            # A run that finished between our first look and our lock has stored its result by now.
            reused = await self._recent(key)
            if reused is not None:
                return reused
            result = await compute()
            await self._store(self._store_result(keys=[lock, f"{self.prefix}:result:{key}"],
                                                 args=[token, json.dumps(result), _ms(self.reuse_window_s)]))
        finally:
            renewing.cancel()
            await self._store(self._release(keys=[lock], args=[token]))
        return {**result, "reused": False}

    async def _keep(self, lock: str, token: str) -> None:
        """Renew the lease while the run lives; stop once it was lost (Redis away longer than a lease)."""
        while True:
            await asyncio.sleep(self.lock_ttl_s / 3)
            try:
                renewed = await self._renew(keys=[lock], args=[token, _ms(self.lock_ttl_s)])
            except redis.RedisError:
                continue  # the next renewal may reach it while the lease still holds
            if not renewed:
                logger.warning("analysis lock lost: its lease lapsed while the run went on", extra={"lock": lock})
                return

    async def _recent(self, key: str) -> dict | None:
        stored = await self._store(self._redis.get(f"{self.prefix}:result:{key}"))
        return None if stored is None else {**json.loads(stored), "reused": True}

    @staticmethod
    async def _store(command: Awaitable[Any]) -> Any:
        """A Redis command's reply; a Redis that cannot answer is a 503, not an internal error."""
        try:
            return await command
        except redis.RedisError as error:
            raise LockStoreUnavailable(f"the analysis lock store (Redis) cannot answer: {error}") from None

    async def close(self) -> None:
        await self._redis.aclose()
