"""The overload estimate on its own: nothing is refused before the route was seen busy or below
min_in_flight; once its capacity is known, a request that would be done after its deadline is refused with
when to come back; the table of routes stays bounded."""

import time

import pytest

from serve_app.common.errors import Overloaded
from serve_app.http.overload import Admission, OverloadConfig

CONFIG = OverloadConfig(min_in_flight=4, window_s=0.1)


def busy(admission: Admission, route: str, in_flight: int, completions: int) -> None:
    """`in_flight` requests running, `completions` of them ending (and being replaced) over one window."""
    load = admission.load(route)
    for _ in range(in_flight):
        load.change(1, admission.config)
    for _ in range(completions):
        time.sleep(admission.config.window_s / completions)
        load.change(-1, admission.config, answered=True)
        load.change(1, admission.config)
    time.sleep(0.01)
    load.change(-1, admission.config, answered=True)  # closes the window
    load.change(1, admission.config)


def test_a_quiet_route_admits_its_first_burst():
    admission = Admission(CONFIG)
    load = admission.load("/v1/graphs/a")
    for _ in range(100):
        admission.check(load, deadline_s=0.01)
        load.change(1, CONFIG)


def test_past_its_capacity_a_request_that_would_miss_its_deadline_is_refused():
    admission = Admission(CONFIG)
    busy(admission, "/v1/graphs/a", in_flight=8, completions=10)  # about 100 per second
    load = admission.load("/v1/graphs/a")
    capacity = load.capacity()
    assert 30 < capacity < 150
    admission.check(load, deadline_s=60)  # 9 / capacity is well within a minute
    with pytest.raises(Overloaded) as refused:
        admission.check(load, deadline_s=0.001)
    assert refused.value.status == 503 and int(refused.value.headers["Retry-After"]) >= 1
    for _ in range(8):
        load.change(-1, CONFIG)
    admission.check(load, deadline_s=0.001)  # fewer than min_in_flight in flight: never refused


def test_a_window_that_was_not_busy_teaches_nothing():
    admission = Admission(CONFIG)
    busy(admission, "/v1/graphs/a", in_flight=1, completions=10)
    assert admission.load("/v1/graphs/a").capacity() == 0


def test_the_routes_tracked_are_bounded():
    admission = Admission(CONFIG)
    for i in range(1000):
        admission.load(f"/v1/graphs/g{i}")
    assert len(admission._routes) <= 256


def test_requests_cut_at_their_deadline_are_no_capacity():
    admission = Admission(CONFIG)
    load = admission.load("/v1/graphs/a")
    for _ in range(8):
        load.change(1, CONFIG)
    for _ in range(10):
        time.sleep(CONFIG.window_s / 10)
        load.change(-1, CONFIG, answered=False)  # 504s
        load.change(1, CONFIG)
    time.sleep(0.01)
    load.change(-1, CONFIG)
    assert load.capacity() == 0.0
