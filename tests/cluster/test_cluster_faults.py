"""Faults across hosts under a steady mix through the other hosts' proxies (testkit/cluster_faults.py), each held
to the budget stated there before it runs. The benchmark (`python -m benchmarks.cluster_faults`) runs these and
the loss of the LLM's host on the full platform and writes the table."""

import pytest

from testkit.cluster_faults import run_cluster_fault

pytestmark = [pytest.mark.cluster, pytest.mark.fault]


@pytest.mark.parametrize("fault", ["worker_killed", "worker_drained", "head_restarted", "redis_restarted"])
def test_the_cluster_keeps_serving(cluster, api_key, fault):
    report = run_cluster_fault(cluster, fault, api_key)
    print(f"\n{fault}: {report}")
    assert report.breaches() == [], report
