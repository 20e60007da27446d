"""Early refusal under overload: a synchronous work request (a route that may also run as a job) that would
wait in this replica past its deadline is refused at admission, 503 `overloaded` with Retry-After, instead of
queueing until its answer is of no use. The deadline is the client's X-Request-Timeout, else `max_wait_s`.

The wait is Little's law per route: a request that arrives behind `in_flight` others is done after about
(in_flight + 1) / capacity seconds, capacity being the highest rate of answers the route kept up over a recent
window in which it was busy (at least `min_in_flight` on average: what it can do, not merely what it was
asked). That rate is Little's law again, the average in flight over the mean time of the window's answers (not
5xx: a request cut at its deadline is no capacity): answers counted per window undercount any route whose
answers take longer than a window (16 streamed chats of 5 s each, one of them done 3.6 s into a window, read as
0.3 per second and refused a burst the engine served in 5 s). Until a busy window was seen,
and below `min_in_flight`, nothing is refused, so a quiet route's first burst is served. A job's replay is
counted but never refused: it was accepted already."""

import math
import time
from collections import OrderedDict, deque

from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve_app.common.errors import Overloaded
from serve_app.http.job_routes import prefers_async, runs_as_job
from serve_app.http.problems import problem_response
from serve_app.security.caller import CURRENT
from serve_app.security.families import route_family
from serve_app.v2.protocol import error_response

# Routes tracked per replica; the least recently used is forgotten past this (paths come from clients).
_ROUTES = 256


class OverloadConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    # The deadline of a request that sends no X-Request-Timeout (Serve's request_timeout_s is 60 s; a wait
    # of half of that is of use to few clients).
    max_wait_s: float = Field(default=30.0, gt=0)
    min_in_flight: int = Field(default=8, ge=1)
    window_s: float = Field(default=2.0, gt=0)
    # How many recent windows the capacity is the best of.
    windows: int = Field(default=15, ge=1)


class RouteLoad:
    """One route's requests in flight here, and its completion rate per window."""

    def __init__(self, config: OverloadConfig):
        self.in_flight = 0
        self.rates: deque[float] = deque(maxlen=config.windows)
        self._window_start, self._completed, self._load_seconds, self._answer_seconds = time.monotonic(), 0, 0.0, 0.0
        self._changed_at = self._window_start

    def capacity(self) -> float:
        return max(self.rates, default=0.0)

    def change(self, by: int, config: OverloadConfig, answered: bool = False, took_s: float = 0.0) -> None:
        """`by` requests began (1) or ended (-1) now; an ended one `answered` (not with a 5xx) after `took_s`."""
        now = time.monotonic()
        self._load_seconds += self.in_flight * (now - self._changed_at)
        self._changed_at = now
        self.in_flight += by
        if answered:
            self._completed += 1
            self._answer_seconds += took_s
        elapsed = now - self._window_start
        if elapsed >= config.window_s:
            busy = self._load_seconds / elapsed
            if busy >= config.min_in_flight and self._completed:  # a busy window: its rate is what it can do
                self.rates.append(busy * self._completed / max(self._answer_seconds, 1e-6))
            self._window_start, self._completed, self._load_seconds, self._answer_seconds = now, 0, 0.0, 0.0


class Admission:
    """Every tracked route's load in this replica; `app.state.admission`, configured by the Ingress."""

    def __init__(self, config: OverloadConfig | None = None):
        self.config = config or OverloadConfig()
        self._routes: OrderedDict[str, RouteLoad] = OrderedDict()

    def load(self, route: str) -> RouteLoad:
        load = self._routes.pop(route, None) or RouteLoad(self.config)
        self._routes[route] = load
        if len(self._routes) > _ROUTES:
            self._routes.popitem(last=False)
        return load

    def check(self, load: RouteLoad, deadline_s: float) -> None:
        """Overloaded when a new request would be done only after its deadline."""
        capacity = load.capacity()
        if not self.config.enabled or load.in_flight < self.config.min_in_flight or capacity <= 0:
            return
        expected_s = (load.in_flight + 1) / capacity
        if expected_s > deadline_s:
            raise Overloaded(f"this route would answer in about {expected_s:.1f} s, past the request's deadline of "
                             f"{deadline_s:g} s; retry later, or send it as a job (Prefer: respond-async)",
                             retry_after_s=min(60, max(1, math.ceil(expected_s - deadline_s))))


def _deadline(headers: Headers, default_s: float) -> float:
    try:
        sent = float(headers.get("x-request-timeout", "inf"))
    except ValueError:
        sent = math.inf  # the route answers the bad header
    return min(sent, default_s) if sent > 0 else default_s


class OverloadGuard:
    """ASGI middleware in front of the gate. A request sent as a job (Prefer: respond-async) is not
    synchronous work, and passes."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not runs_as_job(scope):
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        if prefers_async(headers):
            return await self.app(scope, receive, send)
        admission: Admission = scope["app"].state.admission
        load = admission.load(scope["path"])
        try:
            caller = CURRENT.get()
            if caller is None or not caller.replay:
                admission.check(load, _deadline(headers, admission.config.max_wait_s))
        except Overloaded as refusal:
            family = route_family(scope["path"])
            scope["app"].state.guard.metrics.refusal(refusal.title, family)
            response = (error_response(503, refusal.detail, refusal.headers) if family == "v2"
                        else problem_response(refusal))
            return await response(scope, receive, send)
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        load.change(1, admission.config)
        began = time.monotonic()
        try:
            await self.app(scope, receive, sending)
        finally:
            load.change(-1, admission.config, answered=status < 500, took_s=time.monotonic() - began)
