"""The platform's Redis clients, made one way: short timeouts, so that with Redis away a caller answers 503
at once instead of hanging; and two quick retries on a connection error, so that a pooled connection that
died with a Redis restart costs a reconnect, not a failed request (redis-py's default, ten retries of up to
a second each, would hold a request for many seconds while Redis is down)."""

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

_RETRIES = 2
# Idle connections are checked (PING) before use after this long, so a dead one is replaced, not used.
_HEALTH_CHECK_S = 10


def _options(timeout_s: float) -> dict:
    return {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s, "health_check_interval": _HEALTH_CHECK_S,
            "retry_on_error": [redis.ConnectionError, redis.TimeoutError]}


def _backoff() -> ExponentialBackoff:
    return ExponentialBackoff(cap=0.25, base=0.05)


def sync_redis(url: str, timeout_s: float = 2.0) -> redis.Redis:
    return redis.Redis.from_url(url, retry=Retry(_backoff(), _RETRIES), **_options(timeout_s))


def async_redis(url: str, timeout_s: float = 2.0) -> redis.asyncio.Redis:
    """For the event loop it is first used on (an asyncio client belongs to one)."""
    return redis.asyncio.Redis.from_url(url, retry=AsyncRetry(_backoff(), _RETRIES), **_options(timeout_s))


def async_pool(url: str, max_connections: int, timeout_s: float) -> redis.asyncio.BlockingConnectionPool:
    """A bounded pool: callers queue (up to `timeout_s`) for one of `max_connections`."""
    return redis.asyncio.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=timeout_s, retry=AsyncRetry(_backoff(), _RETRIES),
        **_options(timeout_s))
