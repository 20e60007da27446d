"""The gate every HTTP request passes before a route: request id and header size, API key and scopes,
rate limits, then the body, read whole within its limits. Refusals are problem+json (V2's own error
body on /v2) with the right status; SecurityHeaders, outside it, puts the security headers on every answer."""

import logging
from collections.abc import Awaitable, Callable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve_app.common.errors import (
    Forbidden,
    HeadersTooLarge,
    PlatformError,
    RateLimited,
    Unauthenticated,
    as_platform_error,
)
from serve_app.common.input_limits import check_request_id, set_input_limits
from serve_app.common.settings import PlatformSettings
from serve_app.http.job_routes import prefers_async
from serve_app.http.problems import is_json, problem_response
from serve_app.keys import open_key_store
from serve_app.security.body import ClientGone, check_json_depth, read_body, replaying
from serve_app.security.caller import ANONYMOUS, CURRENT, Caller, TenantTag
from serve_app.security.config import SecurityConfig
from serve_app.security.families import OPEN, body_family, check_path, required_scopes, route_family
from serve_app.security.key_table import KeyTable
from serve_app.security.metrics import SecurityMetrics
from serve_app.security.rate_limits import RateLimiter
from serve_app.v2.protocol import error_response

logger = logging.getLogger("ray.serve")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The API sends JSON only; the docs page needs its scripts, so it gets no content security policy.
_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-store")]
_API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")


class Guard:
    """What the gate checks against: the key table, the rate limiter, the limits; made by the Ingress."""

    def __init__(self, settings: PlatformSettings):
        self.auth = settings.auth == "on"
        if not self.auth:
            logger.warning("PLATFORM_AUTH=off: every route is open to anyone who can reach this port")
        self.keys = KeyTable(open_key_store(settings.key_store, settings.keys_file, settings.redis_url))
        self.limiter = RateLimiter(settings.redis_url, SecurityConfig().rate_limits)
        self.metrics = SecurityMetrics()
        logging.getLogger("ray.serve").addFilter(TenantTag())
        self.configure(SecurityConfig())

    def configure(self, config: SecurityConfig) -> None:
        self.config = config
        self.keys.refresh_s = config.key_refresh_s
        self.limiter.config = config.rate_limits
        set_input_limits(config.limits)

    async def admit(self, headers: Headers, method: str, path: str, family: str) -> Caller:
        """The caller this request (HTTP, or gRPC with its metadata as headers) is for, or the refusal: 401,
        403, 429 (or 503 when the stores are down and the rule is to refuse). LLM work (anything that needs
        the `llm` scope) is admitted only while the key's tokens this minute last."""
        self._check_headers(headers)
        if family in OPEN:
            return ANONYMOUS
        needed = required_scopes(family, method, path, prefers_async(headers))
        caller = await self._authenticate(headers, needed, path) if self.auth else ANONYMOUS
        await self._limited(self.limiter.admit(caller, llm="llm" in needed), caller, family)
        return caller

    async def admit_replay(self, caller: Caller, method: str, path: str, family: str) -> None:
        """A job's request, replayed in-process, runs as the key that submitted it: the same scopes, and LLM
        work only while that key's tokens last (its requests were counted when it was submitted)."""
        if family in OPEN:
            return
        needed = required_scopes(family, method, path, False)
        self._check_scopes(caller.allows, needed)
        if "llm" in needed:
            await self._limited(self.limiter.admit_tokens(caller), caller, family)

    async def admit_more(self, caller: Caller, requests: int, family: str = "jobs") -> None:
        """Charge `requests` more to the caller's per-minute quota, all or none (a batch's jobs beyond the
        request admit() counted); RateLimited (429) when they do not fit."""
        await self._limited(self.limiter.admit_more(caller, requests), caller, family)

    async def _limited(self, check: Awaitable[None], caller: Caller, family: str) -> None:
        try:
            await check
        except RateLimited:
            self.metrics.rate_limited(caller.tenant, family)
            raise

    def _check_headers(self, headers: Headers) -> None:
        size = sum(len(name) + len(value) for name, value in headers.raw)
        if size > self.config.header_bytes:
            raise HeadersTooLarge(f"request headers take {size} bytes, the limit is {self.config.header_bytes}")
        check_request_id(headers.get("x-request-id"))

    async def _authenticate(self, headers: Headers, needed: frozenset[str], path: str) -> Caller:
        presented = self._presented_key(headers)
        record = await self.keys.lookup(presented)
        if record is None:
            self.metrics.auth_failure("invalid")
            logger.warning("authentication failed", extra={"key_prefix": presented[:12], "path": path})
            raise Unauthenticated("the API key is malformed, unknown or revoked")
        self._check_scopes(record.allows, needed)
        return Caller(key_id=record.id, tenant=record.tenant, tier=record.tier, scopes=record.scopes,
                      meter=self.charge)

    def _presented_key(self, headers: Headers) -> str:
        """The one key sent (Authorization: Bearer, or X-API-Key); two are refused, as a proxy in front may
        read another of them than this gate does."""
        sent = headers.getlist("authorization") + headers.getlist("x-api-key")
        if len(sent) != 1:
            self.metrics.auth_failure("missing" if not sent else "ambiguous")
            raise Unauthenticated("send one API key: Authorization: Bearer <key> or X-API-Key: <key>" if not sent
                                  else "send the API key once: one Authorization or one X-API-Key header")
        if headers.get("authorization") is None:
            return sent[0]
        scheme, _, token = sent[0].partition(" ")
        return token.strip() if scheme.lower() == "bearer" else ""

    def _check_scopes(self, allows: Callable[[str], bool], needed: frozenset[str]) -> None:
        missing = sorted(scope_ for scope_ in needed if not allows(scope_))
        if missing:
            self.metrics.auth_failure("forbidden")
            raise Forbidden(f"this API key lacks the scope {', '.join(missing)}")

    async def charge(self, caller: Caller, tokens: int) -> None:
        self.metrics.tokens(caller.tenant, tokens)
        await self.limiter.charge(caller, tokens)


class Gate:
    """ASGI middleware in front of every route; the Guard it asks is the app's (`app.state.guard`)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        family = route_family(scope["path"])
        replayed = CURRENT.get()  # a job run in-process was admitted when it was submitted
        guard: Guard = scope["app"].state.guard
        headers = Headers(scope=scope)
        try:
            check_path(scope["path"], scope.get("raw_path"))
            if replayed is None:
                caller = await guard.admit(headers, scope["method"], scope["path"], family)
            else:
                caller = replayed
                await guard.admit_replay(caller, scope["method"], scope["path"], family)
            if scope["method"] in _BODY_METHODS:
                receive = await self._bounded(headers, receive, family, guard)
        except ClientGone:
            return
        except PlatformError as error:
            return await _refuse(scope, receive, send, family, as_platform_error(error), guard)
        guard.metrics.request(caller.tenant, family)
        token = CURRENT.set(caller)
        try:
            await self.app(scope, receive, send)
        finally:
            CURRENT.reset(token)

    async def _bounded(self, headers: Headers, receive: Receive, family: str, guard: Guard) -> Receive:
        limits = guard.config.limits
        body = await read_body(receive, getattr(limits.body_bytes, body_family(family)), guard.config.body_timeout_s,
                               headers.get("content-length"))
        if is_json(headers.get("content-type", "")):
            check_json_depth(body, limits.json_depth)
        return replaying(body, receive)


class SecurityHeaders:
    """ASGI middleware outside the gate and everything that may refuse before it (a drain, overload), so
    every answer carries the security headers."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        await self.app(scope, receive, _with_security_headers(send, route_family(scope["path"])))


def _with_security_headers(send: Send, family: str) -> Send:
    extra = _HEADERS if family == "docs" else [*_HEADERS, _API_CSP]

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            present = {name.lower() for name, _ in headers}  # a route's own (SSE's Cache-Control) wins
            message["headers"] = headers + [header for header in extra if header[0] not in present]
        await send(message)

    return sending


async def _refuse(scope: Scope, receive: Receive, send: Send, family: str, error: PlatformError, guard: Guard) -> None:
    guard.metrics.refusal(error.title, family)
    if family == "v2":  # V2 clients read {"error": ...}
        response = error_response(error.status, error.detail, getattr(error, "headers", None))
    else:
        response = problem_response(error)
    await response(scope, receive, send)
