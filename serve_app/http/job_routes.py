"""Which synchronous routes may also run as jobs (RFC 7240 `Prefer: respond-async`): each declares it with
`openapi_extra=RUNS_AS_JOB`, and a preference sent to any other route is ignored, as RFC 7240 allows."""

from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.routing import Match
from starlette.types import Scope

RUNS_AS_JOB = {"x-runs-as-job": True}


def prefers_async(headers: Headers) -> bool:
    preferences = (part.strip().lower() for header in headers.getlist("prefer") for part in header.split(","))
    return "respond-async" in preferences


def runs_as_job(scope: Scope) -> bool:
    """Whether the route this request reaches declared it may run as a job."""
    for route in scope["app"].router.routes:
        if isinstance(route, APIRoute) and (route.openapi_extra or {}).get("x-runs-as-job"):
            if route.matches(scope)[0] == Match.FULL:
                return True
    return False
