"""GraphExecutor without Ray: node kinds and policies over fake handles (plain async callables)."""

import asyncio
import random
import time

import pytest

from graphs.executor import GraphExecutor
from graphs.graph_metrics import GraphMetrics
from graphs.spec import GraphSpec
from serve_app.common.errors import CircuitOpen, DeadlineExceeded, NodeTimeout, ValidationFailed
from tests.unit.fakes import FakeHandle


class Model:
    """A fake deployment: echoes its payload after `latency_s`, failing (503) while `failing` is set."""

    def __init__(self, latency_s: float = 0.0, failing: bool = False, name: str = "model"):
        self.latency_s, self.failing, self.name = latency_s, failing, name
        self.calls = 0

    async def __call__(self, payload):
        self.calls += 1
        await asyncio.sleep(self.latency_s)
        if self.failing:
            from serve_app.common.errors import ModelUnavailable
            raise ModelUnavailable(f"{self.name} is down")
        return {"echo": payload, "by": self.name}


def model_node(deployment: str, **policies) -> dict:
    return {"kind": "model", "deployment": deployment, "args": ["$input"], **policies}


def executor(nodes: dict, models: dict[str, Model], root: str = "root", **spec) -> GraphExecutor:
    graph = GraphSpec.model_validate({"root": root, "nodes": nodes, **spec})
    handles = {name: FakeHandle(__call__=model) for name, model in models.items()}
    return GraphExecutor("g", graph, handles, GraphMetrics(), rng=random.Random(7))


def run(graph: GraphExecutor, payload=None, timeout_s: float | None = None):
    return asyncio.run(graph.run(payload if payload is not None else {"x": 1}, timeout_s))


def test_a_sequence_feeds_each_step_the_one_before():
    nodes = {"root": {"kind": "sequence", "steps": ["a", "b"]}, "a": model_node("a"),
             "b": {"kind": "model", "deployment": "b", "args": ["$a.by"]}}
    assert run(executor(nodes, {"a": Model(name="A"), "b": Model(name="B")})) == {"echo": "A", "by": "B"}


def test_ensemble_branches_run_concurrently():
    nodes = {"root": {"kind": "ensemble", "branches": ["a", "b"]}, "a": model_node("a"), "b": model_node("b")}
    started = time.perf_counter()
    answer = run(executor(nodes, {"a": Model(0.2, name="A"), "b": Model(0.2, name="B")}))
    assert time.perf_counter() - started < 0.35
    assert (answer["a"]["by"], answer["b"]["by"]) == ("A", "B")


def test_switch_routes_on_the_input_and_refuses_a_value_without_a_case():
    nodes = {"root": {"kind": "switch", "on": "$input.tier", "cases": {"gold": "a"}}, "a": model_node("a")}
    graph = executor(nodes, {"a": Model(name="A")})
    assert run(graph, {"tier": "gold"})["by"] == "A"
    with pytest.raises(ValidationFailed, match="no case for 'tin'"):
        run(graph, {"tier": "tin"})


def test_splitter_shares_traffic_by_weight():
    nodes = {"root": {"kind": "splitter", "routes": {"a": 0.75, "b": 0.25}}, "a": model_node("a"), "b": model_node("b")}
    a, b = Model(name="A"), Model(name="B")
    graph = executor(nodes, {"a": a, "b": b})
    for _ in range(400):
        run(graph)
    assert 0.68 < a.calls / 400 < 0.82 and a.calls + b.calls == 400


def test_a_node_timeout_cuts_a_slow_call():
    graph = executor({"root": model_node("a", timeout_s=0.05)}, {"a": Model(1.0)})
    started = time.perf_counter()
    with pytest.raises(NodeTimeout):
        run(graph)
    assert time.perf_counter() - started < 0.5


def test_retries_back_off_and_stop_at_the_deadline():
    flaky = Model(failing=True)
    graph = executor({"root": model_node("a", retry={"attempts": 3, "backoff_s": 0.5, "jitter": 0})}, {"a": flaky})
    with pytest.raises(Exception, match="down"):
        run(graph)
    assert flaky.calls == 3
    flaky.calls = 0
    # The second backoff (1 s) would end past a 1 s deadline: two tries only. The second try starts at 0.5 s,
    # leaving half a second for a busy machine (the unit lane runs beside the platform's start).
    with pytest.raises(Exception, match="down"):
        run(graph, timeout_s=1.0)
    assert flaky.calls == 2


def test_the_deadline_cuts_the_whole_run():
    nodes = {"root": {"kind": "sequence", "steps": ["a", "b"]}, "a": model_node("a"), "b": model_node("b")}
    graph = executor(nodes, {"a": Model(0.15), "b": Model(0.15)}, timeout_s=5)
    with pytest.raises(DeadlineExceeded):
        run(graph, timeout_s=0.2)


def test_an_open_breaker_answers_with_the_fallback_without_calling_the_node():
    nodes = {"root": model_node("a", breaker={"failures": 2, "window_s": 60, "open_s": 60}, fallback="rule"),
             "rule": {"kind": "function", "function": "constant", "args": ["rule"]}}
    down = Model(failing=True)
    graph = executor(nodes, {"a": down})
    assert [run(graph) for _ in range(5)] == ["rule"] * 5
    assert down.calls == 2 and graph.breakers["root"].state == "open"
    no_fallback = executor({"root": model_node("a", breaker={"failures": 1, "window_s": 60, "open_s": 60})}, {"a": down})
    with pytest.raises(Exception, match="down"):
        run(no_fallback)
    with pytest.raises(CircuitOpen):
        run(no_fallback)


def test_a_shadow_sees_the_traffic_but_never_changes_the_answer():
    nodes = {"root": model_node("a", shadow={"node": "candidate", "compare": "echo"}),
             "candidate": model_node("b")}
    primary, candidate = Model(name="A"), Model(0.05, failing=True, name="B")
    graph = executor(nodes, {"a": primary, "b": candidate})

    async def scenario():
        answers = [await graph.run({"x": i}) for i in range(3)]
        await asyncio.sleep(0.2)  # the shadows finish off the critical path
        return answers

    assert [answer["by"] for answer in asyncio.run(scenario())] == ["A"] * 3
    assert candidate.calls == 3 and graph.metrics.snapshot("g")["root"]["shadow_error"] == 3
