"""The statuses cache under readiness: a controller that hangs holds no probe once something was read."""

import asyncio
import threading
import time

from serve_app import readiness


def test_a_hung_controller_read_holds_no_caller_once_statuses_were_read(monkeypatch):
    release, reads = threading.Event(), []

    def statuses(app_name: str):
        reads.append(app_name)
        if len(reads) > 1:
            release.wait(5)  # the controller restarting
        return {"LLMServer": ("HEALTHY", len(reads))}

    monkeypatch.setattr(readiness, "_statuses", statuses)
    monkeypatch.setattr(readiness, "REFRESH_S", 0.0)

    async def scenario():
        cache = readiness._Statuses()
        first = await cache.get("platform")
        started = time.monotonic()
        during = [await cache.get("platform") for _ in range(20)]  # one read in flight, shared
        waited = time.monotonic() - started
        release.set()
        while cache.pending is not None:
            await asyncio.sleep(0.01)
        return first, during, waited, await cache.get("platform")

    first, during, waited, after = asyncio.run(scenario())
    assert first == {"LLMServer": ("HEALTHY", 1)} and all(value == first for value in during)
    assert waited < 0.5 and len(reads) >= 2
    assert after["LLMServer"][1] >= 2  # the hung read's answer, once it came, replaced the stale one


def test_a_call_waiting_on_a_deployment_that_lost_its_replica_fails_fast(monkeypatch):
    states = {"LLMServer": ("HEALTHY", 1)}
    monkeypatch.setattr(readiness, "_statuses", lambda app_name: dict(states))
    monkeypatch.setattr(readiness, "REFRESH_S", 0.05)
    monkeypatch.setattr(readiness, "serve", type("Serve", (), {
        "get_replica_context": staticmethod(lambda: type("Context", (), {"app_name": "platform"}))}))
    monkeypatch.setattr(readiness, "_cache", readiness._Statuses())

    async def scenario():
        waiting = asyncio.Event()

        async def call_routed_to_a_dead_replica():
            waiting.set()
            await asyncio.sleep(60)  # queued in the handle until a replacement replica comes up

        started = time.monotonic()
        call = asyncio.ensure_future(readiness.Liveness().call("LLMServer", call_routed_to_a_dead_replica))
        await waiting.wait()
        states["LLMServer"] = ("UNHEALTHY", 0)  # the controller saw the replica die
        try:
            await call
        except readiness.ModelUnavailable as error:
            return time.monotonic() - started, error
        return None, None

    took, error = asyncio.run(scenario())
    assert error is not None and error.status == 503 and error.headers["Retry-After"]
    assert took < 1.0
