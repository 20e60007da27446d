"""Who the current request is for: set by the gate for a request's whole life (a contextvar, so the
routes, the LLM service and log lines below it see it without passing it along)."""

import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field

from serve_app.common.tiers import Tier

TokenMeter = Callable[["Caller", int], Awaitable[None]]


@dataclass(frozen=True)
class Caller:
    key_id: str
    tenant: str
    tier: Tier
    scopes: frozenset[str]
    # Charges LLM tokens to the key's budget (the rate limiter's), if one applies.
    meter: TokenMeter | None = field(default=None, compare=False)
    # A job's request replayed in-process: accepted already, so never refused for load.
    replay: bool = False

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


ANONYMOUS = Caller(key_id="-", tenant="anonymous", tier="normal", scopes=frozenset({"admin"}))
CURRENT: ContextVar[Caller | None] = ContextVar("platform_caller", default=None)


def current_caller() -> Caller | None:
    return CURRENT.get()


def act_for(caller: Caller) -> None:
    """Run the rest of this task (a job replayed in-process) as `caller`; the gate then admits it as is."""
    CURRENT.set(caller)


class TenantTag(logging.Filter):
    """Every line Serve's logger writes while a request runs names its tenant (a filter on the logger, not
    its handlers: Serve replaces those when its logging config changes)."""

    def filter(self, record: logging.LogRecord) -> bool:
        caller = CURRENT.get()
        if caller is not None:
            record.tenant = caller.tenant
        return True


async def charge_tokens(tokens: int) -> None:
    """Count an LLM request's prompt + completion tokens against the caller's budget."""
    caller = CURRENT.get()
    if caller is not None and caller.meter is not None and tokens > 0:
        await caller.meter(caller, tokens)
