"""The platform on three hosts: every host's proxy serves the API, replicas are placed as the multi-host
settings say, and the shared state is one across hosts (a request through one host's proxy, its effect seen
through another's)."""

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from serve_app.keys import new_key
from serve_app.keys.store import RedisKeyStore
from serve_app.ops.local_cluster import serve_client
from testkit.faults import CALLS, ended_jobs
from testkit.polling import eventually

pytestmark = pytest.mark.cluster


def _client(host, key: str) -> httpx.Client:
    return httpx.Client(base_url=host.http, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def _statuses(clients: list[httpx.Client], count: int = 6) -> list[int]:
    return [clients[i % len(clients)].get("/").status_code for i in range(count)]


def test_every_host_answers_classify_recommend_and_chat(cluster, api_key):
    for host in cluster.hosts:
        with _client(host, api_key) as http:
            for kind, (path, body) in CALLS.items():
                answer = http.post(path, json=body)
                assert answer.status_code == 200, (host.name, kind, answer.text[:200])


def test_an_ingress_on_every_worker_and_a_proxy_on_every_host(cluster):
    details = serve_client(cluster.dashboard_url).get_serve_details()
    ingress = details["applications"]["platform"]["deployments"]["Ingress"]["replicas"]
    assert sorted(r["node_ip"] for r in ingress) == sorted(w.ip for w in cluster.workers)
    assert {proxy["node_ip"] for proxy in details["proxies"].values()} == {h.ip for h in cluster.hosts}
    everything = [r for d in details["applications"]["platform"]["deployments"].values() for r in d["replicas"]]
    assert cluster.head.ip not in {r["node_ip"] for r in everything}  # num-cpus 0: the head runs no replica


def test_a_job_submitted_through_one_host_runs_and_is_read_through_another(cluster, api_key):
    first, second = cluster.workers
    with _client(first, api_key) as http:
        answer = http.post("/v1/graphs/recommend", json={"user_id": 7, "k": 3}, headers={"Prefer": "respond-async"})
        assert answer.status_code == 202
        job_id = answer.json()["requestId"]
    with _client(second, api_key) as http:
        job = ended_jobs(http, [job_id], 120)[job_id]
    assert job["status"] == "SUCCEEDED" and job["result"]["items"]


def test_a_keys_rate_limit_counts_its_requests_through_every_host(cluster):
    key, record = new_key("cluster-tests", "low", frozenset({"graphs"}))  # low: 10 requests/s
    store = RedisKeyStore(cluster.redis_url)
    store.put(record)
    clients = [_client(host, key) for host in cluster.workers]
    # Each proxy balances over both hosts' Ingress replicas, and each replica re-reads the keys every 2 s: a
    # run of answers through both proxies says that every replica knows the key.
    eventually(lambda: 401 not in _statuses(clients), 20, 0.2, "every replica seeing the key")
    time.sleep(1.5)  # the probes out of the rate window
    with ThreadPoolExecutor(24) as pool:  # all at once: well within one second
        statuses = list(pool.map(lambda i: clients[i % 2].post("/v1/graphs/recommend", json={"user_id": 7, "k": 1})
                                 .status_code, range(24)))
    # Counted per host, each would admit 10 of its 12 (4 refused in all); counted once, about 14 are refused.
    assert statuses.count(429) >= 10 and set(statuses) <= {200, 429}, statuses

    store.revoke(record.id)
    eventually(lambda: set(_statuses(clients)) == {401}, 20, 0.2, "the key refused by every replica")
    for client in clients:
        client.close()
