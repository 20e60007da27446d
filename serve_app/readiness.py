"""The one readiness rule, for every protocol: a set of deployments is ready when each has serving
replicas, as Serve's controller reports it; the server is ready when every deployment of the app is.
A deployment is live while it has a running replica (an update in progress still serves); a call to one
that is not live fails at once (ModelUnavailable, 503 + Retry-After) instead of waiting for a replica.

`serve.status()` is a blocking call to the controller (~0.2 s here): it runs on a thread, at most once
per REFRESH_S however many probes arrive, so a probe storm costs the event loop nothing."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from ray import serve
from ray.serve.schema import DeploymentStatus, ReplicaState

from serve_app.common.errors import ModelUnavailable

# A deployment serves while it has replicas up, autoscaling or not; UPDATING/UNHEALTHY do not count.
SERVING = {DeploymentStatus.HEALTHY, DeploymentStatus.UPSCALING, DeploymentStatus.DOWNSCALING}
REFRESH_S = 1.0
T = TypeVar("T")
logger = logging.getLogger("ray.serve")


# Replicas that serve requests: a restarted controller reports the live ones RECOVERING until it has
# reached them again, and an updating or migrating replica still serves.
LIVE = (ReplicaState.RUNNING, ReplicaState.RECOVERING, ReplicaState.UPDATING, ReplicaState.PENDING_MIGRATION)


def _statuses(app_name: str) -> dict[str, tuple[DeploymentStatus, int]]:
    """Each deployment's status and live replicas."""
    return {name: (d.status, sum(d.replica_states.get(state, 0) for state in LIVE))
            for name, d in serve.status().applications[app_name].deployments.items()}


class _Statuses:
    """The last statuses read, and the one read in flight that concurrent probes share. Once something was
    read, a read in flight holds no probe and no call: the last statuses stand meanwhile, so a controller
    that is slow or restarting (replicas serve without it) costs requests nothing."""

    def __init__(self):
        self.read_at, self.value, self.pending = 0.0, {}, None

    async def get(self, app_name: str) -> dict[str, tuple[DeploymentStatus, int]]:
        if time.monotonic() - self.read_at < REFRESH_S:
            return self.value
        if self.pending is None:
            self.pending = asyncio.ensure_future(asyncio.to_thread(_statuses, app_name))
            self.pending.add_done_callback(self._keep)
        if not self.value:
            await asyncio.shield(self.pending)  # the first read: nothing to answer with before it
        return self.value

    def _keep(self, read: asyncio.Future) -> None:
        self.pending = None
        if read.cancelled() or read.exception() is not None:
            logger.warning("deployment statuses unreadable; the last ones stand", exc_info=read.exception())
            return
        self.value, self.read_at = read.result(), time.monotonic()


_cache = _Statuses()
# Models this replica builds in-process (serve_app/hosted_models.py): they serve whenever it answers.
_hosted: set[str] = set()


def host_models(names: Iterable[str]) -> None:
    """Count these models as serving in this replica, though Serve has no deployment of theirs."""
    _hosted.update(names)


async def readiness(deployments: Iterable[str] | None = None) -> tuple[bool, dict[str, str]]:
    """Whether these deployments (all of the calling replica's application when None) serve, and each
    one's status. A replica counts once its __init__ returned, and __init__ loads and warms up the model."""
    statuses = {name: status for name, (status, _) in (await _states()).items()}
    wanted = statuses if deployments is None else {name: statuses.get(name) for name in deployments}
    return (all(status in SERVING for status in wanted.values()),
            {name: getattr(status, "value", "MISSING") for name, status in wanted.items()})


async def _states() -> dict[str, tuple[DeploymentStatus, int]]:
    return {**await _cache.get(serve.get_replica_context().app_name),
            **dict.fromkeys(_hosted, (DeploymentStatus.HEALTHY, 1))}


async def not_live(deployments: Iterable[str]) -> list[str]:
    """Those of these deployments without a live replica (hosted and unknown ones count as live)."""
    states = await _cache.get(serve.get_replica_context().app_name)
    return sorted(name for name in deployments if name not in _hosted and name in states and states[name][1] == 0)


class Liveness:
    """Calls that fail fast when their deployment has no running replica (the controller's view, at most
    REFRESH_S old), rather than waiting in a handle's queue for a replacement (a minute for an LLM engine).
    Models hosted in this replica are always live."""

    async def call(self, deployment: str, start: Callable[[], Awaitable[T]]) -> T:
        """`start()`'s result, started only when the deployment is live and given up once it is not; a
        hosted model's call goes straight through (the hot path of the hosted graphs)."""
        if deployment in _hosted:
            return await start()
        if await not_live([deployment]):
            raise ModelUnavailable(f"{deployment} has no live replica; retry shortly")
        return await self._unless_lost(start(), deployment)

    @staticmethod
    async def _unless_lost(call: Awaitable[T], deployment: str) -> T:
        """`call`'s result; ModelUnavailable (and the call cancelled) once the deployment has no live replica
        while the call waits: one routed just before the controller saw its replica die."""
        task = asyncio.ensure_future(call)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=REFRESH_S)
                if done:
                    return task.result()
                if await not_live([deployment]):
                    raise ModelUnavailable(f"{deployment} lost its replica while this call waited; retry shortly")
        finally:
            task.cancel()  # a no-op once it is done; else (lost, or our caller cancelled) the call goes too
