"""RFC 7240 `Prefer: respond-async` on the synchronous POST routes that declare they may run as jobs
(serve_app/http/job_routes.py): the request becomes a job and the answer is 202 with its `Location` at once,
instead of the route's answer after the wait. Any other route ignores the preference."""

import json

from pydantic import BaseModel, Field, ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from serve_app.common.errors import MalformedJson, PlatformError, ValidationFailed, as_platform_error
from serve_app.common.tiers import Tier
from serve_app.http.job_routes import prefers_async, runs_as_job
from serve_app.http.problems import problem_response
from serve_app.jobs.model import JobRequest
from serve_app.jobs.router import job_id, submit

_GRAPHS = "/v1/graphs/"


class _JobHeaders(BaseModel):
    tier: Tier = "normal"
    timeout_s: float | None = Field(default=None, gt=0)


def _job_headers(request: Request) -> _JobHeaders:
    try:
        return _JobHeaders.model_validate({"tier": request.headers.get("x-priority", "normal"),
                                           "timeout_s": request.headers.get("x-request-timeout")})
    except ValidationError as error:
        names = {"tier": "X-Priority", "timeout_s": "X-Request-Timeout"}
        raise ValidationFailed("request headers failed validation", errors=[
            {"field": names[issue["loc"][0]], "message": issue["msg"]} for issue in error.errors()]) from None


class RespondAsync:
    """ASGI middleware; errors are answered here, as the app's handlers sit inside it."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        request = Request(scope, receive)
        if not prefers_async(request.headers) or not runs_as_job(scope):
            return await self.app(scope, receive, send)
        try:
            response = await self._submit(request)
        except PlatformError as error:
            response = problem_response(as_platform_error(error))
        response.headers["Preference-Applied"] = "respond-async"
        await response(scope, receive, send)

    async def _submit(self, request: Request):
        state, options = request.app.state, _job_headers(request)
        path, body = request.url.path, await request.body()
        kind = "route"
        if path.startswith(_GRAPHS):  # a graph's body is checked before it is queued, as /v1/jobs does
            kind = "graph"
            try:
                state.runner.parse(path.removeprefix(_GRAPHS), json.loads(body))
            except ValueError:
                raise MalformedJson("request body is not valid JSON") from None
        return await submit(request, kind, JobRequest.of(path, body, dict(request.headers)), "/v1/jobs",
                            job_id=job_id(request.headers.get("x-request-id")), tier=options.tier,
                            timeout_s=options.timeout_s)
