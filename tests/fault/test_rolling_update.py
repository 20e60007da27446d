"""`serve deploy` of a changed config under load completes with zero failed requests: with two Ingress
replicas (the fleet), Serve replaces them one at a time and each old one first finishes what it holds
(graceful_shutdown_timeout_s), while HAProxy sends new requests to the other."""

import pytest

from serve_app.ops.local_cluster import deploy
from testkit.faults import SteadyMix
from testkit.platform import changed_config

pytestmark = pytest.mark.fault


def test_a_rolling_update_under_load_fails_no_request(platform, fleet):
    # A changed actor option restarts every Ingress replica. The fleet is left so (it is never changed back).
    update = changed_config(fleet.config, {"Ingress": {"ray_actor_options": {"num_cpus": 0.2}}})
    with SteadyMix(platform, concurrency=4) as load:
        deploy(platform, update, timeout_s=300)
    failures = [outcome for outcome in load.outcomes if outcome.status != 200]
    print(f"\nrolling update under load: {len(load.outcomes)} requests, {len(failures)} failed")
    assert load.outcomes and not failures, failures[:10]
