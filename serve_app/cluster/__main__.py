"""`python -m serve_app.cluster` (`make cluster`): the platform on a Ray cluster of several hosts on this
machine, each host a network namespace with its own address (serve_app/cluster/network.py), for users who
want to see it spread over hosts and for the tests of losing one. Needs root.

    up [--hosts N]      bridge, N hosts, Redis on the bridge, the Ray head in h0 and workers in the others,
                        the platform deployed with a proxy on every host; .data/cluster.json once all are ready
    kill HOST           SIGKILL every process of the host at once (a preemption without notice)
    drain HOST          Ray's node drain (a preemption with notice), then the host stops
    start HOST          a stopped worker host joins again
    restart-head        the head's processes killed, the head started again on the same Redis (GCS FT)
    restart-redis       Redis killed and started again (its AOF brings back what it held)
    deploy [--config F] a changed serve config deployed to the running cluster (as a multi-host cluster runs it)
    status              the hosts and what answers on each
    down                everything `up` made removed (processes by pid, namespaces and links by name)
"""

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from serve_app.cluster import lifecycle, network, nodes
from serve_app.cluster.state import ClusterState
from serve_app.common.settings import REPO_ROOT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serve_app.cluster", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    start_up = commands.add_parser("up")
    start_up.add_argument("--hosts", type=int, default=3)
    start_up.add_argument("--worker-cpus", type=int, default=4, help="CPUs Ray schedules against on each worker")
    start_up.add_argument("--config", type=Path, default=REPO_ROOT / "serve_config.yaml")
    start_up.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                          help="more environment for every node (e.g. PLATFORM_JOBS_MAX_TIMEOUT_S=30)")
    for name in ("kill", "drain", "start"):
        commands.add_parser(name).add_argument("host")
    commands.choices["drain"].add_argument("--deadline-s", type=int, default=60)
    commands.add_parser("deploy").add_argument("--config", type=Path, default=REPO_ROOT / "serve_config.yaml")
    for name in ("restart-head", "restart-redis", "status", "down"):
        commands.add_parser(name)
    args = parser.parse_args(argv)
    # The cluster's token auth (as the Makefile exports it): the dashboard client sends the token only then.
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    if args.command == "down":
        lifecycle.down()
        return 0
    if args.command == "up":
        state = lifecycle.up(args.hosts, args.worker_cpus, args.config, dict(item.split("=", 1) for item in args.env))
        print(json.dumps({"hosts": [vars(host) for host in state.hosts]}, indent=2))
        return 0
    state = ClusterState.read()
    if args.command == "kill":
        print(f"{args.host}: {network.kill_host(state.host(args.host).netns)} processes killed")
    elif args.command == "drain":
        emptied = nodes.drain(state, state.host(args.host), lifecycle.env_for(state), args.deadline_s)
        print(f"{args.host}: drained in {emptied:.1f} s, stopped")
    elif args.command == "start":
        nodes.start_node(state, state.host(args.host), lifecycle.env_for(state))
        nodes.wait_ready([state.host(args.host)], lifecycle.READY_TIMEOUT_S)
    elif args.command == "restart-head":
        print(f"head back and ready after {lifecycle.restart_head(state):.1f} s")
    elif args.command == "deploy":
        lifecycle.deploy(state, args.config)
    elif args.command == "restart-redis":
        lifecycle.restart_redis(state)
    else:
        print(json.dumps(lifecycle.status(state), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
