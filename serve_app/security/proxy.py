"""Checks in Serve's HTTP proxy itself, before its own request-id middleware echoes and logs the
client's X-Request-Id: an over-long or non-printable one is refused there (400), so it is never
repeated in a response header or an access log line. Installed by the Makefile's
RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH=serve_app.security.proxy:proxy_middlewares; the gate in the
Ingress checks the same again, for a proxy started without it."""

from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from serve_app.common.errors import PlatformError
from serve_app.common.input_limits import check_request_id
from serve_app.http.problems import problem_response


class RequestIdGuard:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                check_request_id(Headers(scope=scope).get("x-request-id"))
            except PlatformError as error:
                return await problem_response(error)(scope, receive, send)
        await self.app(scope, receive, send)


def proxy_middlewares() -> list[Middleware]:
    return [Middleware(RequestIdGuard)]
