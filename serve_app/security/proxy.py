"""Checks in Serve's HTTP proxy itself, before its own request-id middleware echoes and logs the
client's X-Request-Id: an over-long or non-printable one is refused there (400), so it is never
repeated in a response header or an access log line. Installed by the Makefile's
RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH=serve_app.security.proxy:proxy_middlewares; the gate in the
Ingress checks the same again, for a proxy started without it."""

import json

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from serve_app.common.input_limits import input_limits, valid_request_id


class RequestIdGuard:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            sent = [value for name, value in scope["headers"] if name == b"x-request-id"]
            if sent and not valid_request_id(sent[0].decode("latin-1")):
                return await _refuse(send)
        await self.app(scope, receive, send)


async def _refuse(send: Send) -> None:
    limit = input_limits().request_id_length
    body = json.dumps({"type": "about:blank", "title": "invalid_request", "status": 400,
                       "detail": f"X-Request-Id must be 1-{limit} printable ASCII characters"}).encode()
    await send({"type": "http.response.start", "status": 400,
                "headers": [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def proxy_middlewares() -> list[Middleware]:
    return [Middleware(RequestIdGuard)]
