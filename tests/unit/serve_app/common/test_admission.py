"""The admission gate in front of the engine: slots, shortest-prompt-first order, 429, cancellation."""

import asyncio

import pytest

from serve_app.common.admission import AdmissionGate
from serve_app.common.errors import ConcurrencyLimitReached


async def _admission_order(policy: str, prompt_tokens: list[int]) -> list[int]:
    gate = AdmissionGate(slots=1, max_in_flight=100, policy=policy)
    await gate.acquire(1)  # the one slot is busy, so everyone after this queues
    order: list[int] = []

    async def request(tokens: int) -> None:
        await gate.acquire(tokens)
        order.append(tokens)
        gate.release()

    tasks = [asyncio.create_task(request(tokens)) for tokens in prompt_tokens]
    await asyncio.sleep(0)  # all queued
    assert gate.waiting == len(prompt_tokens)
    gate.release()
    await asyncio.gather(*tasks)
    return order


def test_shortest_prompt_first_admits_short_prompts_ahead_of_long_ones():
    assert asyncio.run(_admission_order("shortest_prompt_first", [200, 5, 80, 5, 1])) == [1, 5, 5, 80, 200]


def test_fifo_admits_in_arrival_order():
    assert asyncio.run(_admission_order("fifo", [200, 5, 80, 5, 1])) == [200, 5, 80, 5, 1]


def test_past_max_in_flight_requests_are_refused_at_once():
    async def scenario():
        gate = AdmissionGate(slots=1, max_in_flight=2)
        await gate.acquire(10)
        waiter = asyncio.create_task(gate.acquire(10))
        await asyncio.sleep(0)
        with pytest.raises(ConcurrencyLimitReached):
            await gate.acquire(10)
        gate.release()
        await waiter
        assert (gate.running, gate.waiting) == (1, 0)

    asyncio.run(scenario())


def test_a_cancelled_waiter_leaves_the_queue_and_holds_no_slot():
    async def scenario():
        gate = AdmissionGate(slots=1, max_in_flight=10)
        await gate.acquire(1)
        cancelled = asyncio.create_task(gate.acquire(1))
        await asyncio.sleep(0)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert gate.waiting == 0
        gate.release()
        assert gate.running == 0

    asyncio.run(scenario())


def test_more_slots_wake_waiters_live():
    async def scenario():
        gate = AdmissionGate(slots=1, max_in_flight=10)
        await gate.acquire(1)
        waiters = [asyncio.create_task(gate.acquire(1)) for _ in range(2)]
        await asyncio.sleep(0)
        gate.configure(slots=3, max_in_flight=10, policy="fifo")
        await asyncio.gather(*waiters)
        assert (gate.running, gate.waiting) == (3, 0)

    asyncio.run(scenario())
