"""FaultInjector without Ray: latency, error share and status, hang, live reconfigure, picklable fault.
Its out-of-memory batches need Serve's batching, so tests/integration/test_graph_policies.py covers them."""

import asyncio
import os
import pickle
import time

import pytest
from pydantic import ValidationError

from testkit.fault_injector import FaultConfig, FaultInjector, InjectedFault

PAYLOAD = {"user_id": 7}


def injector(**config) -> FaultInjector:
    return FaultInjector.func_or_class(**config)


def outcomes(node: FaultInjector, calls: int) -> list[bool]:
    """For each of `calls` calls, whether it raised an InjectedFault."""
    async def call() -> bool:
        try:
            await node(PAYLOAD)
        except InjectedFault:
            return True
        return False

    async def all_calls() -> list[bool]:
        return [await call() for _ in range(calls)]
    return asyncio.run(all_calls())


def test_healthy_node_echoes_the_payload_and_counts_calls():
    node = injector()
    assert asyncio.run(node(PAYLOAD)) == {**PAYLOAD, "served_by": "FaultInjector"}
    assert node.calls() == 1


def test_latency_is_added_to_every_call():
    node = injector(latency_s=0.2)
    start = time.perf_counter()
    assert asyncio.run(node(PAYLOAD))["served_by"] == "FaultInjector"
    assert 0.2 <= time.perf_counter() - start < 1.0


@pytest.mark.parametrize(("status", "retryable"), [(503, True), (404, False), (429, False)])
def test_error_rate_one_raises_the_configured_status(status, retryable):
    node = injector(error_rate=1, error_status=status)
    with pytest.raises(InjectedFault) as raised:
        asyncio.run(node(PAYLOAD))
    assert raised.value.status == status and raised.value.retryable is retryable
    assert node.calls() == 1


def test_error_share_follows_the_rate_and_the_seed_repeats_it():
    failures = outcomes(injector(error_rate=0.3, seed=11), 1000)
    assert 250 <= sum(failures) <= 350
    assert outcomes(injector(error_rate=0.3, seed=11), 1000) == failures


def test_reconfigure_changes_behaviour_live():
    node = injector(error_rate=1)
    assert all(outcomes(node, 5))
    node.reconfigure({"error_rate": 0})
    assert not any(outcomes(node, 5))
    assert node.calls() == 10
    with pytest.raises(ValidationError):
        node.reconfigure({"error_rate": 0, "latncy_s": 1})


@pytest.mark.parametrize("config", [{"error_rate": 1.5}, {"latency_s": -1}, {"error_status": 200}])
def test_config_rejects_impossible_faults(config):
    with pytest.raises(ValidationError):
        FaultConfig(**config)


def test_hang_never_answers_so_the_callers_timeout_cuts_it():
    node = injector(hang=True)
    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(asyncio.wait_for(node(PAYLOAD), timeout=0.2))


def test_crash_is_reached_only_when_configured(monkeypatch):
    # A stand-in for os._exit: the real one would end pytest itself.
    exits = []
    monkeypatch.setattr(os, "_exit", lambda code: exits.append(code))
    asyncio.run(injector(latency_s=0.01, error_rate=0)(PAYLOAD))
    assert exits == []
    asyncio.run(injector(crash=True)(PAYLOAD))
    assert exits == [1]


def test_injected_fault_pickles_with_its_status_and_detail():
    fault = pickle.loads(pickle.dumps(InjectedFault(429, "slow down")))
    assert isinstance(fault, InjectedFault)
    assert (fault.status, fault.detail, fault.title, str(fault)) == (429, "slow down", "injected_fault", "slow down")


def test_a_cancelled_call_is_counted():
    node = injector(hang=True)

    async def give_up() -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await node(PAYLOAD)

    asyncio.run(give_up())
    assert (node.calls(), node.cancelled()) == (1, 1)
