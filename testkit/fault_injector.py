"""FaultInjector: a graph node that misbehaves on purpose, FOR TESTS ONLY.

It exists so fault tests can put latency, errors, hangs, crashes and out-of-memory batches into a graph
from a test config; no production application should bind it."""

import asyncio
import os
import random

from pydantic import BaseModel, ConfigDict, Field
from ray import serve
from ray.serve.exceptions import RayServeException

from serve_app.common.batching import split_on_oom
from serve_app.common.errors import PlatformError
from serve_app.common.model_metadata import ModelMetadata


class InjectedFault(PlatformError):
    """The error a FaultInjector raises; its status is the configured one (5xx retryable, 4xx the client's)."""

    title = "injected_fault"

    def __init__(self, status: int, detail: str = "injected fault"):
        super().__init__(detail)
        self.status = status

    @property
    def retryable(self) -> bool:
        return self.status >= 500

    def __reduce__(self):
        # Exception pickling replays `args` (the detail only); the status must cross Ray too.
        return type(self), (self.status, self.detail)


class FaultConfig(BaseModel):
    """What every call suffers: added latency, a share of errors, a hang or a crash of the replica;
    and for `batched` calls, batches that run out of memory."""

    model_config = ConfigDict(extra="forbid")

    latency_s: float = Field(default=0, ge=0)
    error_rate: float = Field(default=0, ge=0, le=1)
    error_status: int = Field(default=503, ge=400, le=599)
    # Never answer: the caller's timeout has to cut the call.
    hang: bool = False
    # os._exit(1) on a call: the replica process dies and Serve has to replace it.
    crash: bool = False
    seed: int | None = None
    # A `batched` batch of more items raises MemoryError, so split_on_oom splits it; 0 fails even a batch of one.
    oom_above_batch: int | None = Field(default=None, ge=0)


def _deployment_name() -> str:
    try:
        return serve.get_replica_context().deployment
    except RayServeException:
        return "FaultInjector"


# No CPU reservation: it does no work, and the test configs add several beside a full platform.
@serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=64)
class FaultInjector:
    """FOR TESTS ONLY: injects the faults of a FaultConfig into every call, then echoes the payload."""

    def __init__(self, **config):
        self.name = _deployment_name()
        self._calls = self._cancelled = 0
        self._batch_sizes: list[int] = []
        self.reconfigure(config)

    def reconfigure(self, user_config: dict) -> None:
        """A new FaultConfig, applied live; it restarts the error sequence from its seed."""
        self.config = FaultConfig(**user_config)
        self._rng = random.Random(self.config.seed)

    async def __call__(self, payload: dict) -> dict:
        await self._inject_faults()
        return {**payload, "served_by": self.name}

    async def batched(self, payload: dict) -> dict:
        """`__call__` through a @serve.batch method, whose batches may run out of memory (`oom_above_batch`)."""
        await self._inject_faults()
        return await self._echo_batch(payload)

    async def _inject_faults(self) -> None:
        self._calls += 1
        if self.config.crash:
            os._exit(1)
        try:
            if self.config.latency_s:
                await asyncio.sleep(self.config.latency_s)
            if self.config.hang:
                await asyncio.Event().wait()
        except asyncio.CancelledError:
            self._cancelled += 1  # the caller gave up (a timeout, a client gone): proof it reached here
            raise
        if self._rng.random() < self.config.error_rate:
            raise InjectedFault(self.config.error_status, f"{self.name}: injected fault {self.config.error_status}")

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.05)
    async def _echo_batch(self, payloads: list[dict]) -> list[dict]:
        return split_on_oom(self._echo_all, payloads)

    def _echo_all(self, payloads: list[dict]) -> list[dict]:
        self._batch_sizes.append(len(payloads))
        limit = self.config.oom_above_batch
        if limit is not None and len(payloads) > limit:
            raise MemoryError(f"{self.name}: injected out of memory for a batch of {len(payloads)}")
        return [{**payload, "served_by": self.name} for payload in payloads]

    def describe(self) -> ModelMetadata:
        return ModelMetadata(name=self.name, versions=["test"], platform="fault_injector")

    def calls(self) -> int:
        """Calls that reached this replica, failed ones included: proof that traffic arrived."""
        return self._calls

    def cancelled(self) -> int:
        """Calls cancelled while they waited out their latency or hang."""
        return self._cancelled

    def batch_sizes(self) -> list[int]:
        """Sizes of the batches `batched` was asked to run, in order, the failed and the split ones included."""
        return list(self._batch_sizes)
