"""A model hosted in the Ingress is called as a deployment is (its batching runs in the integration tests)."""

import asyncio
import functools
import threading

import pytest

from serve_app.common.errors import ConcurrencyLimitReached
from serve_app.hosted_models import HostedHandle


def in_loop(test):
    return functools.wraps(test)(lambda: asyncio.run(test()))


class Doubler:
    def __init__(self):
        self.calls = 0
        self.release = asyncio.Event()

    async def double(self, value: int) -> int:
        self.calls += 1
        return 2 * value

    async def held(self) -> str:
        await self.release.wait()
        return "done"

    def blocking(self) -> str:
        return threading.current_thread().name

    async def tokens(self, n: int):
        for i in range(n):
            yield i


@in_loop
async def test_calls_reach_the_model_object():
    handle = HostedHandle("doubler", Doubler())
    assert await asyncio.gather(*(handle.double.remote(i) for i in range(5))) == [0, 2, 4, 6, 8]
    assert handle.model.calls == 5


@in_loop
async def test_a_synchronous_method_runs_off_the_event_loop():
    handle = HostedHandle("doubler", Doubler())
    assert await handle.blocking.remote() != threading.current_thread().name


@in_loop
async def test_streams_as_a_handle_with_stream_true():
    handle = HostedHandle("doubler", Doubler()).options(stream=True)
    assert [token async for token in handle.tokens.remote(3)] == [0, 1, 2]


@in_loop
async def test_calls_past_the_bound_are_refused_at_once_and_slots_come_back():
    handle = HostedHandle("doubler", Doubler(), max_calls=2)
    held = [asyncio.ensure_future(handle.held.remote()) for _ in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(ConcurrencyLimitReached):
        await handle.held.remote()
    handle.model.release.set()
    assert await asyncio.gather(*held) == ["done", "done"]
    assert await handle.double.remote(4) == 8


def test_private_attributes_are_not_methods():
    with pytest.raises(AttributeError):
        HostedHandle("doubler", Doubler())._secret
