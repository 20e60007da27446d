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
