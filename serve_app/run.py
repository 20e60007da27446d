"""`make run`: the platform on this machine, on serve_config.yaml's own ports, drained on SIGTERM or Ctrl-C.
`serve run` is not used because Ray's handler of SIGTERM in a driver exits at once: Serve is not shut down
and in-flight requests are cut (serve_app/drain.py is what runs instead)."""

import argparse
import logging
import signal
import threading
from pathlib import Path

from serve_app.common.settings import REPO_ROOT
from serve_app.drain import drain
from serve_app.local_cluster import local_platform

logger = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("config", type=Path, nargs="?", default=REPO_ROOT / "serve_config.yaml")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()

    def stop_on_signals() -> None:
        # Ray's own SIGTERM handler (set by ray.init) exits without draining: replaced as soon as Ray is up,
        # so a signal during the deploy drains once it is done.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())

    with local_platform(args.config, num_cpus=None, free_ports=False, on_cluster=stop_on_signals) as platform:
        logger.info("serving on %s (dashboard %s); SIGTERM or Ctrl-C drains and stops",
                    platform.base_url, platform.dashboard_url)
        stop.wait()
        drain()
    logger.info("stopped")


if __name__ == "__main__":
    main()
