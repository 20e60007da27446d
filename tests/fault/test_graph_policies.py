"""Graph policies on the real platform with injected faults (FaultInjector deployments from a test
config): breaker + fallback, retries with backoff, timeouts, shadows, switch, splitter, ensemble."""

import asyncio
import time

import httpx
import pytest

from testkit.config import FAULT_GRAPHS
from testkit.platform import reconfigured
from testkit.polling import eventually

OPEN_S = FAULT_GRAPHS["guarded"]["nodes"]["primary"]["breaker"]["open_s"]


@pytest.fixture(scope="module")
def calls(graphs, ask):
    """`calls(name)`: how many calls reached the FaultInjector deployment `name`; `calls(name, method)`
    asks it another question (`batch_sizes`)."""
    return lambda name, method="calls": ask(name, method)


def _stats(http, graph: str) -> dict:
    return http.get(f"/v1/graphs/{graph}/stats").json()["nodes"]


def test_breaker_opens_under_failures_and_the_fallback_answers(graphs, calls):
    http, _ = graphs
    before = calls("flaky")
    answers = [http.post("/v1/graphs/guarded", json={"x": i}) for i in range(10)]
    assert [a.status_code for a in answers] == [200] * 10
    assert all(a.json() == {"answer": "rule"} for a in answers)
    # Three failures open the breaker: the other seven never reach the failing deployment.
    assert calls("flaky") - before == 3
    stats = _stats(http, "guarded")
    assert stats["primary"]["breaker"] == "open" and stats["primary"]["fallbacks"] == 10


def test_breaker_closes_after_recovery(graphs, calls, platform):
    http, config = graphs
    with reconfigured(platform, {"flaky": {"user_config": {"error_rate": 0.0}}}, base=config):
        time.sleep(OPEN_S)  # waited out: the next call is the half-open probe
        probe = http.post("/v1/graphs/guarded", json={"x": 1})
        assert probe.json() == {"x": 1, "served_by": "flaky"}
        assert _stats(http, "guarded")["primary"]["breaker"] == "closed"


def test_retries_stop_at_the_limit_with_backoff(graphs, calls):
    http, _ = graphs
    before = calls("flaky")
    started = time.perf_counter()
    response = http.post("/v1/graphs/retried", json={"x": 1})
    elapsed = time.perf_counter() - started
    assert response.status_code == 503 and response.json()["title"] == "injected_fault"
    assert calls("flaky") - before == 3
    assert elapsed >= 0.2 + 0.4  # backoff 0.2 s, then 0.4 s
    assert _stats(http, "retried")["primary"]["retries"] >= 2


def test_a_deadline_cuts_the_retries_short(graphs, calls):
    """X-Request-Timeout 0.5 s: the first backoff (0.2 s) fits, the second (0.4 s) would end past it."""
    http, _ = graphs
    before = calls("flaky")
    started = time.perf_counter()
    response = http.post("/v1/graphs/retried", json={"x": 1}, headers={"X-Request-Timeout": "0.5"})
    assert response.status_code == 503 and response.json()["title"] == "injected_fault"
    assert calls("flaky") - before == 2
    assert time.perf_counter() - started < 0.5


def test_the_graph_deadline_cuts_a_slow_node_and_the_client_may_shorten_it(graphs):
    http, _ = graphs
    for headers, limit in (({}, 0.3), ({"X-Request-Timeout": "0.1"}, 0.1)):
        started = time.perf_counter()
        response = http.post("/v1/graphs/deadlined", json={"x": 1}, headers=headers)
        elapsed = time.perf_counter() - started
        assert response.status_code == 504 and response.json()["title"] == "deadline_exceeded"
        assert limit <= elapsed < limit + 0.15  # the slow node takes 0.5 s
    # A longer client timeout never extends the graph's own.
    assert http.post("/v1/graphs/deadlined", json={"x": 1}, headers={"X-Request-Timeout": "5"}).status_code == 504


def test_a_hung_node_times_out_without_blocking_others(graphs):
    http, _ = graphs

    async def both():
        async with httpx.AsyncClient(base_url=http.base_url, headers=http.headers, timeout=30) as client:
            started = time.perf_counter()
            hung = asyncio.create_task(client.post("/v1/graphs/hanging", json={"x": 1}))
            await asyncio.sleep(0.05)
            fast = await client.post("/v1/graphs/fast", json={"x": 2})
            fast_s = time.perf_counter() - started
            return await hung, time.perf_counter() - started, fast, fast_s

    hung, hung_s, fast, fast_s = asyncio.run(both())
    assert hung.status_code == 504 and hung.json()["title"] == "node_timeout"
    assert 0.3 <= hung_s < 2
    assert fast.status_code == 200 and fast_s < hung_s  # answered while the other one hung


# Was (behind HAProxy): a client that sent its body in a segment of its own (httpx does) and then left went
# unnoticed with Ray's `option splice-request`, HAProxy kept the replica's connection open, and the abandoned
# work ran on to Serve's request timeout. The platform's HAProxy wrapper turns request splicing off.
def test_a_client_that_goes_away_cancels_the_call_inside_the_deployment(graphs, calls):
    """`abandoned` has no timeout: only the client's leaving can end its call to the hung node."""
    http, _ = graphs
    reached, before = calls("hung"), calls("hung", "cancelled")

    async def leave_once_the_call_hangs() -> None:
        # The client goes only once its call is inside the node, so the test cannot pass (or fail) on a
        # request that never got there.
        async with httpx.AsyncClient(base_url=http.base_url, headers=http.headers, timeout=30) as client:
            request = asyncio.ensure_future(client.post("/v1/graphs/abandoned", json={"x": 1}))
            await asyncio.to_thread(eventually, lambda: calls("hung") > reached, 10, 0.1, "the call inside `hung`")
            assert not request.done()
            request.cancel()  # httpx closes the connection: the client is gone

    asyncio.run(leave_once_the_call_hangs())
    eventually(lambda: calls("hung", "cancelled") > before, 10, 0.2, "the hung call cancelled")
    assert calls("hung", "cancelled") == before + 1


@pytest.mark.parametrize("graph, outcome", [("shadowed", "shadow_agree"), ("shadow_failing", "shadow_error")])
def test_a_slow_or_failing_shadow_never_changes_or_delays_the_answer(graphs, calls, graph, outcome):
    http, _ = graphs
    latencies = []
    for i in range(5):
        started = time.perf_counter()
        response = http.post(f"/v1/graphs/{graph}", json={"x": i})
        latencies.append(time.perf_counter() - started)
        assert response.status_code == 200 and response.json() == {"x": i, "served_by": "ok"}
    assert max(latencies) < 0.4  # the slow shadow takes 0.5 s
    eventually(lambda: _stats(http, graph)["primary"].get(outcome, 0) >= 5, 5, 0.2, f"5 {outcome}")
    assert _stats(http, graph)["primary"][outcome] == 5


def test_a_batch_that_runs_out_of_memory_is_retried_in_smaller_batches(graphs, calls):
    """oomy's batches of more than 2 raise MemoryError; every request still answers, from halves."""
    http, _ = graphs

    async def together():
        async with httpx.AsyncClient(base_url=http.base_url, headers=http.headers, timeout=30) as client:
            return await asyncio.gather(*(client.post("/v1/graphs/batched", json={"i": i}) for i in range(12)))

    before = len(calls("oomy", "batch_sizes"))
    answers = asyncio.run(together())
    assert [a.status_code for a in answers] == [200] * 12
    assert [a.json()["i"] for a in answers] == list(range(12))
    sizes = calls("oomy", "batch_sizes")[before:]  # this test's batches only
    assert max(sizes) > 2  # at least one batch ran out of memory and was split
    assert sum(size for size in sizes if size <= 2) == 12  # every request answered from a batch that fit


def test_switch_routes_on_a_field_of_the_input(graphs):
    http, _ = graphs
    assert http.post("/v1/graphs/routed", json={"tier": "gold"}).json()["served_by"] == "ok"
    assert http.post("/v1/graphs/routed", json={"tier": "basic"}).json()["served_by"] == "ok_b"
    missing = http.post("/v1/graphs/routed", json={})
    assert missing.status_code == 422 and "$input.tier" in missing.json()["detail"]


def test_splitter_follows_the_weights_within_tolerance(graphs):
    http, _ = graphs
    served = [http.post("/v1/graphs/split", json={"i": i}).json()["served_by"] for i in range(200)]
    share = served.count("ok") / len(served)
    assert 0.7 <= share <= 0.9  # 0.8 configured; 200 draws give a standard deviation of about 0.03


def test_ensemble_runs_branches_concurrently(graphs):
    http, _ = graphs
    started = time.perf_counter()
    answer = http.post("/v1/graphs/fanout", json={"x": 1}).json()
    assert set(answer) == {"s1", "s2"}
    assert time.perf_counter() - started < 0.9  # two 0.5 s branches at once, not one after the other


def test_unknown_graph_is_404(graphs):
    http, _ = graphs
    assert http.post("/v1/graphs/nope", json={}).status_code == 404
