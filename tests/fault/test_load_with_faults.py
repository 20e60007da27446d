"""Each fault of the fault library (testkit/faults.py), under a steady c8 mix on the test platform, within its
stated budget (BUDGETS there): failed requests, their statuses and speed, recovery time, jobs lost = 0."""

import pytest

from testkit.faults import BUDGETS, markdown, run_fault

pytestmark = pytest.mark.fault


# Killing the LLM replica waits out an engine start (about a minute): `make test-restarts`, not `make test`.
SLOW = {"llm_replica"}


@pytest.mark.parametrize("fault", [pytest.param(fault, marks=[pytest.mark.slow_restart] * (fault in SLOW))
                                   for fault in BUDGETS])
def test_a_fault_under_load_stays_within_its_budget(platform, fault):
    report = run_fault(platform, fault)
    print("\n" + markdown([report]))
    assert report.requests > 0 and not report.breaches(), report
