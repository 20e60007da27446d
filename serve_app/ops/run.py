"""`make run`: the platform on this machine, on serve_config.yaml's own ports, drained on SIGTERM or Ctrl-C.
`serve run` is not used because Ray's handler of SIGTERM in a driver exits at once: Serve is not shut down
and in-flight requests are cut (serve_app/ops/drain.py is what runs instead)."""

import argparse
import logging
import signal
import threading
from pathlib import Path

from serve_app.common.settings import REPO_ROOT
from serve_app.ops.drain import drain
from serve_app.ops.local_cluster import local_platform

logger = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("config", type=Path, nargs="?", default=REPO_ROOT / "serve_config.yaml")
    parser.add_argument("--dashboard-port", type=int, default=8265)
    parser.add_argument("--num-cpus", type=int, default=None,
                        help="CPUs Ray schedules replicas against (default: the machine's)")
    parser.add_argument("--state-file", type=Path, help="where to write the running platform's addresses (JSON) "
                        "once it is ready, for clients such as the test suite; removed on exit")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()

    def stop_on_signals() -> None:
        # Ray's own SIGTERM handler (set by ray.init) exits without draining: replaced as soon as Ray is up,
        # so a signal during the deploy drains once it is done.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())

    with local_platform(args.config, num_cpus=args.num_cpus, free_ports=False, dashboard_port=args.dashboard_port,
                        on_cluster=stop_on_signals) as platform:
        logger.info("serving on %s (dashboard %s); SIGTERM or Ctrl-C drains and stops",
                    platform.base_url, platform.dashboard_url)
        if args.state_file:
            platform.write(args.state_file)
        try:
            stop.wait()
            drain()
        finally:
            if args.state_file:
                args.state_file.unlink(missing_ok=True)
    logger.info("stopped")


if __name__ == "__main__":
    main()
