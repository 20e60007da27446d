"""Faults across hosts (testkit/cluster_faults.py) on the full platform spread over 3 hosts (`python -m
serve_app.cluster up`, network namespaces on this machine): `python -m benchmarks.cluster_faults` brings the
cluster up (with the test suite's short job timeouts, so a dead consumer's job comes back within a minute),
strikes each fault under a steady mix through the surviving hosts' proxies, writes
benchmarks/results/cluster_faults.{json,md} and takes the cluster down."""

import argparse
import json
from dataclasses import asdict

from serve_app.cluster import lifecycle
from serve_app.common.settings import REPO_ROOT
from serve_app.ops.local_cluster import admin_key
from testkit.cluster_faults import (
    BUDGETS,
    CONCURRENCY_PER_PROXY,
    WINDOW_S,
    ClusterFaultReport,
    markdown,
    run_cluster_fault,
)
from testkit.config import JOB_ENV
from testkit.results import RESULTS, write_results


def _merged(reports: list[ClusterFaultReport]) -> list[ClusterFaultReport]:
    """This run's reports, and an earlier run's for the faults this one left out (`--faults` reruns some)."""
    earlier = RESULTS / "cluster_faults.json"
    kept = {row["fault"]: ClusterFaultReport(**row) for row in json.loads(earlier.read_text())} \
        if earlier.exists() else {}
    kept.update({report.fault: report for report in reports})
    return [kept[fault] for fault in BUDGETS if fault in kept]


def _write(reports: list[ClusterFaultReport]) -> None:
    reports = _merged(reports)
    table = markdown(reports)
    print(table, flush=True)
    write_results("cluster_faults", [asdict(report) for report in reports],
                  f"# Faults across 3 hosts (network namespaces on one 2-core machine)\n\nA steady mix of classify, "
                  f"recommend and chat ({CONCURRENCY_PER_PROXY} httpx threads per proxy, on the same cores) through "
                  f"every host's proxy but the victim's; requests counted from {WINDOW_S:.0f} s before the fault to "
                  f"{WINDOW_S:.0f} s after. Job timeouts as in the test suite (testkit/config.py JOB_ENV).\n\n"
                  + table + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--faults", nargs="*", default=list(BUDGETS), choices=list(BUDGETS))
    args = parser.parse_args()
    key = admin_key()
    state = lifecycle.up(3, 4, REPO_ROOT / "serve_config.yaml", dict(JOB_ENV))
    reports = []
    try:
        for fault in args.faults:  # written after each: a later fault's failure keeps the earlier results
            reports.append(run_cluster_fault(state, fault, key))
            _write(reports)
    finally:
        lifecycle.down()


if __name__ == "__main__":
    main()
