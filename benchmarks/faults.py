"""Faults under a steady c8 mix (testkit/faults.py): `python -m benchmarks.faults` starts its own platform and
writes benchmarks/results/faults.{json,md}."""

from dataclasses import asdict

from serve_app.ops.local_cluster import local_platform
from testkit.faults import FAULTS, markdown, run_fault
from testkit.results import write_results


def main() -> None:
    with local_platform() as platform:
        reports = [run_fault(platform, fault) for fault in FAULTS]
    table = markdown(reports)
    print(table)
    write_results("faults", [asdict(report) for report in reports],
                  "# Faults under a steady c8 mix (classify, recommend, chat), httpx threads on the same 2 cores\n\n"
                  + table + "\n")


if __name__ == "__main__":
    main()
