"""Admission in front of the LLM engine: a bounded number of requests generate at once, the rest
wait in order of prompt length (shortest first) or arrival, and past the in-flight limit a
request is refused at once (429) rather than queued into a hang [S1 §1.1, S2]."""

import asyncio
import heapq
import itertools
from typing import Literal

from serve_app.common.errors import ConcurrencyLimitReached

AdmissionPolicy = Literal["fifo", "shortest_prompt_first"]


class AdmissionGate:
    """`await gate.acquire(prompt_tokens)` takes one of `slots` (waiting if none is free); `release()` returns it."""

    def __init__(self, slots: int, max_in_flight: int, policy: AdmissionPolicy = "shortest_prompt_first"):
        self._arrivals = itertools.count()
        self._waiting: list[tuple[int, int, asyncio.Future]] = []
        self.running = 0
        self.configure(slots, max_in_flight, policy)

    def configure(self, slots: int, max_in_flight: int, policy: AdmissionPolicy) -> None:
        self.slots, self.max_in_flight, self.policy = slots, max_in_flight, policy
        self._wake_waiters()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def acquire(self, prompt_tokens: int) -> None:
        if self.running + self.waiting >= self.max_in_flight:
            raise ConcurrencyLimitReached()
        if self.running < self.slots and not self._waiting:
            self.running += 1
            return
        # Prefill cost grows with the prompt, so short prompts first keeps their time to first token low.
        rank = prompt_tokens if self.policy == "shortest_prompt_first" else 0
        admitted = asyncio.get_running_loop().create_future()
        entry = (rank, next(self._arrivals), admitted)
        heapq.heappush(self._waiting, entry)
        try:
            await admitted
        except asyncio.CancelledError:
            if admitted.done() and not admitted.cancelled():
                self.release()  # admitted in the same tick as the cancel: hand the slot on
            else:
                self._waiting.remove(entry)
                heapq.heapify(self._waiting)
            raise

    def release(self) -> None:
        self.running -= 1
        self._wake_waiters()

    def _wake_waiters(self) -> None:
        while self._waiting and self.running < self.slots:
            *_, admitted = heapq.heappop(self._waiting)
            self.running += 1
            admitted.set_result(None)
