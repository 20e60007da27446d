"""`python -m serve_app.drain`: drain the platform on the Ray cluster this machine belongs to (maintenance),
as `make run` does on SIGTERM (serve_app/run.py); `--end` calls a drain off. Exits 0 once nothing is held,
1 when the deadline passed first."""

import argparse
import logging
import sys

from serve_app.common.drain import end_drain, held, start_drain, wait_until_idle
from serve_app.common.settings import PlatformSettings
from serve_app.local_cluster import APP_NAME

logger = logging.getLogger(__name__)


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
