"""The overload estimate on its own: nothing is refused before the route was seen busy or below
min_in_flight; once its capacity is known, a request that would be done after its deadline is refused with
when to come back; the table of routes stays bounded."""

import time

import pytest

from serve_app.common.errors import Overloaded
from serve_app.http.overload import Admission, OverloadConfig

CONFIG = OverloadConfig(min_in_flight=4, window_s=0.1)


def busy(admission: Admission, route: str, in_flight: int, completions: int) -> None:
    """`in_flight` requests running, `completions` of them ending (and being replaced) over one window; each
    took what it takes in that steady state (Little's law: in_flight / rate)."""
    load = admission.load(route)
    took_s = in_flight * admission.config.window_s / completions
    for _ in range(in_flight):
        load.change(1, admission.config)
    for _ in range(completions):
        time.sleep(admission.config.window_s / completions)
        load.change(-1, admission.config, answered=True, took_s=took_s)
        load.change(1, admission.config)
    time.sleep(0.01)
    load.change(-1, admission.config, answered=True, took_s=took_s)  # closes the window
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


def test_answers_longer_than_a_window_are_not_read_as_a_low_rate():
    """Was: 16 streamed chats of about 5 s each, one done early in a 2 s window, read as 0.3 answers a second,
    and the next 8 of a burst the engine served in 5 s were refused."""
    admission = Admission(CONFIG)
    load = admission.load("/v1/chat/completions")
    for _ in range(16):
        load.change(1, CONFIG)
    time.sleep(CONFIG.window_s)
    load.change(-1, CONFIG, answered=True, took_s=5 * CONFIG.window_s)  # one answer in the window, 5 windows long
    assert load.capacity() == pytest.approx(16 / (5 * CONFIG.window_s), rel=0.2)
    admission.check(load, deadline_s=10 * CONFIG.window_s)  # 16 more within 5 windows: well within 10


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
