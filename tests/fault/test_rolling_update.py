"""`serve deploy` of a changed config under load completes with zero failed requests: with two Ingress
replicas, Serve replaces them one at a time and each old one first finishes what it holds
(graceful_shutdown_timeout_s), while HAProxy sends new requests to the other."""

import pytest

from testkit.faults import SteadyMix
from testkit.platform import reconfigured

pytestmark = pytest.mark.fault
TWO_INGRESSES = {"Ingress": {"autoscaling_config": {"min_replicas": 2, "max_replicas": 2,
                                                    "target_ongoing_requests": 32}}}


def test_a_rolling_update_under_load_fails_no_request(platform):
    with reconfigured(platform, TWO_INGRESSES) as two:
        with SteadyMix(platform, concurrency=4) as load:
            # A changed actor option restarts every Ingress replica (there and back again on exit).
            with reconfigured(platform, {"Ingress": {"ray_actor_options": {"num_cpus": 0.45}}}, base=two):
                pass
    failures = [outcome for outcome in load.outcomes if outcome.status != 200]
    print(f"\nrolling update under load: {len(load.outcomes)} requests, {len(failures)} failed")
    assert load.outcomes and not failures, failures[:10]
