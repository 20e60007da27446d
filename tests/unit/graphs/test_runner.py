"""GraphRunner without Ray: the one place a graph's input, deadline and dedupe rule are applied."""

import asyncio
import uuid

import pytest

from graphs.runner import GraphRunner
from graphs.spec import GraphSpec
from serve_app.common.errors import DeadlineExceeded, DuplicateAnalysis, UnknownGraph, ValidationFailed
from tests.unit.fakes import FakeHandle

TEST_REDIS_URL = "redis://127.0.0.1:6379/15"


def runner(gate: asyncio.Event | None = None, calls: list | None = None) -> GraphRunner:
    async def analyse(payload):
        (calls if calls is not None else []).append(payload)
        if gate is not None:
            await gate.wait()
        return {"summary": f"about {payload['restaurant_id']}"}

    spec = GraphSpec.model_validate({
        "root": "a", "timeout_s": 5,
        "input": {"restaurant_id": {"type": "string", "min_length": 1}, "limit": {"type": "integer", "default": 3}},
        "dedupe": {"key": ["$input.restaurant_id"], "lock_ttl_s": 10, "reuse_window_s": 60},
        "nodes": {"a": {"kind": "model", "deployment": "m", "args": ["$input"]}}})
    # A graph name of its own per test: the dedupe keys in Redis never collide across runs.
    return GraphRunner({f"reviews_{uuid.uuid4().hex[:8]}": spec}, {"m": FakeHandle(__call__=analyse)}, TEST_REDIS_URL)


def test_the_body_is_checked_and_completed_before_anything_runs():
    calls: list = []
    graphs = runner(calls=calls)
    (name,) = graphs.specs
    with pytest.raises(ValidationFailed) as refused:
        asyncio.run(graphs.run(name, {"restaurant_id": "", "extra": 1}))
    assert sorted(e["field"] for e in refused.value.errors) == ["extra", "restaurant_id"] and calls == []
    asyncio.run(graphs.run(name, {"restaurant_id": "r1"}))
    assert calls == [{"restaurant_id": "r1", "limit": 3}]
    with pytest.raises(UnknownGraph):
        asyncio.run(graphs.run("nonesuch", {}))


def test_a_concurrent_duplicate_is_refused_and_a_recent_answer_reused():
    async def scenario():
        gate, calls = asyncio.Event(), []
        graphs = runner(gate, calls)
        (name,) = graphs.specs
        first = asyncio.create_task(graphs.run(name, {"restaurant_id": "r1"}))
        await asyncio.sleep(0.1)
        with pytest.raises(DuplicateAnalysis):
            await graphs.run(name, {"restaurant_id": "r1", "limit": 9})  # same key: only the restaurant counts
        gate.set()
        assert (await first)["reused"] is False
        assert (await graphs.run(name, {"restaurant_id": "r1"}))["reused"] is True
        assert len(calls) == 1
        stats = graphs.stats(name)
        assert stats["a"]["calls"] == 1
    asyncio.run(scenario())


def test_the_client_deadline_shortens_the_graphs():
    async def scenario():
        graphs = runner(asyncio.Event())  # the node never answers
        (name,) = graphs.specs
        with pytest.raises(DeadlineExceeded):
            await graphs.run(name, {"restaurant_id": f"r-{uuid.uuid4().hex}"}, timeout_s=0.1)
    asyncio.run(scenario())
