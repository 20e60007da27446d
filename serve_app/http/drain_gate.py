"""The Ingress's side of a drain (serve_app/ops/drain.py): what it holds, and the refusal of new work
while the flag is set. Health routes stay open, so probes see `draining` rather than a refusal."""

import contextlib
from collections.abc import Iterator

from ray import serve
from starlette.types import ASGIApp, Receive, Scope, Send

from serve_app.common.errors import Draining
from serve_app.http.problems import problem_response
from serve_app.ops.drain import DrainWatch
from serve_app.security.families import route_family


class HeldWork:
    """Requests, streams and job runs in this replica; new ones are refused once a drain began."""

    def __init__(self):
        context = serve.get_replica_context()
        self.count = 0
        self.watch = DrainWatch(context.app_name, context.replica_id.unique_id, held=lambda: self.count)

    @property
    def draining(self) -> bool:
        return self.watch.draining

    def take(self) -> None:
        if self.draining:
            raise Draining("this server is shutting down; retry, another replica will take it")
        self.count += 1

    def release(self) -> None:
        self.count -= 1

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        self.take()
        try:
            yield
        finally:
            self.release()


class DrainGate:
    """ASGI middleware: counts every request it lets through until its answer (a stream's last event) is sent."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or route_family(scope["path"]) == "health":
            return await self.app(scope, receive, send)
        held: HeldWork = scope["app"].state.held
        try:
            held.take()
        except Draining as refusal:
            return await problem_response(refusal)(scope, receive, send)
        try:
            await self.app(scope, receive, send)
        finally:
            held.release()
