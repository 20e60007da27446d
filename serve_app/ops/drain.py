"""Graceful drain: one flag in Ray's key-value store (GCS) that every replica of the application watches.

`python -m serve_app.ops.run` (what `make run` starts) sets it on SIGTERM; `python -m serve_app.ops.drain` (this
module) sets it on the cluster this machine belongs to, for maintenance (`--end` clears it; exit 0 once nothing is
held, 1 when the deadline passed first). While it is set, each Ingress replica answers readiness 503 and new requests
503 with Retry-After, lets the requests and streams it holds finish, and publishes how many it still holds;
the job consumers stop taking jobs (what they had taken but not started goes back to the queue). Whoever
set the flag waits until nothing is held, or its deadline, before it stops Serve."""

import argparse
import logging
import sys
import threading
import time
from collections.abc import Callable

from ray.experimental import internal_kv

from serve_app.common.settings import APP_NAME, PlatformSettings

logger = logging.getLogger(__name__)

_NAMESPACE = "platform-drain"
_FLAG = "draining"
_HELD = "held/"  # + replica id: requests and job runs that replica still holds
POLL_S = 0.2


def _key(app_name: str, suffix: str) -> bytes:
    return f"{app_name}/{suffix}".encode()


def start_drain(app_name: str) -> None:
    internal_kv._internal_kv_put(_key(app_name, _FLAG), b"1", namespace=_NAMESPACE)


def end_drain(app_name: str) -> None:
    """Back to serving (a drain called off); replicas forget what they published."""
    internal_kv._internal_kv_del(_key(app_name, ""), del_by_prefix=True, namespace=_NAMESPACE)


def draining(app_name: str) -> bool:
    return internal_kv._internal_kv_exists(_key(app_name, _FLAG), namespace=_NAMESPACE)


def held(app_name: str) -> int:
    """Requests and job runs the application's Ingress replicas still hold, as they last published it."""
    keys = internal_kv._internal_kv_list(_key(app_name, _HELD), namespace=_NAMESPACE)
    return sum(int(internal_kv._internal_kv_get(key, namespace=_NAMESPACE) or 0) for key in keys)


def wait_until_idle(app_name: str, deadline_s: float, settle_s: float = 1.0) -> bool:
    """True once nothing has been held for `settle_s` (a job taken just before the flag has started by
    then); False when `deadline_s` passed first."""
    give_up, idle_since = time.monotonic() + deadline_s, None
    while time.monotonic() < give_up:
        if held(app_name):
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= settle_s:
            return True
        time.sleep(POLL_S)
    return False


class DrainWatch:
    """A replica's view of the flag, read on a thread every POLL_S: `draining` costs a request nothing.
    `on_drain` runs once when the flag appears; `held` (when given) is published while it is set."""

    def __init__(self, app_name: str, replica_id: str, on_drain: Callable[[], None] | None = None,
                 held: Callable[[], int] | None = None):
        self.app_name, self.draining = app_name, False
        self._held_key = _key(app_name, _HELD + replica_id)
        self._on_drain, self._held = on_drain, held
        threading.Thread(target=self._watch, daemon=True, name="drain-watch").start()

    def _watch(self) -> None:
        while True:
            try:
                self._look()
            except Exception:  # the GCS away for a moment: look again next tick
                pass
            time.sleep(POLL_S)

    def _look(self) -> None:
        now = draining(self.app_name)
        began, self.draining = now and not self.draining, now
        if began and self._on_drain is not None:
            self._on_drain()
        if now and self._held is not None:
            internal_kv._internal_kv_put(self._held_key, str(self._held()).encode(), namespace=_NAMESPACE)


def drain(app_name: str = APP_NAME, deadline_s: float | None = None) -> bool:
    """Readiness 503 and new requests refused everywhere, then wait for the held ones (and running jobs)."""
    deadline_s = PlatformSettings().drain_timeout_s if deadline_s is None else deadline_s
    start_drain(app_name)
    logger.warning("draining %s: new requests get 503, waiting up to %.0f s for the ones in flight",
                   app_name, deadline_s)
    idle = wait_until_idle(app_name, deadline_s)
    if not idle:
        logger.warning("drain deadline passed with %d requests still held", held(app_name))
    return idle


def main() -> None:
    import ray

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--app", default=APP_NAME)
    parser.add_argument("--deadline-s", type=float, default=None)
    parser.add_argument("--end", action="store_true", help="call a drain off: the replicas serve again")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    ray.init(address="auto", logging_level=logging.WARNING)
    if args.end:
        end_drain(args.app)
        sys.exit(0)
    sys.exit(0 if drain(args.app, args.deadline_s) else 1)


if __name__ == "__main__":
    main()
