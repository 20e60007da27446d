"""The job API on the real platform and the real broker: S0's contract case by case, jobs of graphs and
of the routes that declare they may run as jobs (`Prefer: respond-async`), cancel, timeout, concurrency limit,
tiers; what a job keeps at rest, and for how long."""

import base64
import uuid

import httpx
import pytest
import redis

from serve_app.common.settings import PlatformSettings
from testkit.platform import reconfigured, user_config_change
from testkit.polling import eventually
from tests.integration.replica_logs import log_lines_with

LONG = {"max_tokens": 200, "ignore_eos": True}


def new_id(prefix: str = "job") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def submit(client, prompt: str = "Review Seoul Garden.", headers: dict | None = None, **fields) -> httpx.Response:
    return client.post("/v1/inference", json={"prompt": prompt, "model": "tiny-llama", "max_tokens": 8, **fields},
                       headers=headers or {})


def finished(client, job_id: str, route: str = "/v1/inference", wait_s: float = 60) -> dict:
    def ended() -> dict | None:
        job = client.get(f"{route}/{job_id}", params={"wait": 10}).json()
        return job if job["status"] not in ("QUEUED", "RUNNING") else None

    return eventually(ended, wait_s, interval_s=0, what=f"job {job_id} finished")


def test_s0_submit_answers_202_at_once_and_the_job_succeeds(client):
    job_id = new_id("s0")
    response = submit(client, headers={"X-Request-Id": job_id}, ignore_eos=True)
    assert response.status_code == 202
    assert response.headers["location"] == f"/v1/inference/{job_id}" and response.headers["x-request-id"] == job_id
    assert response.json()["requestId"] == job_id and response.json()["status"] == "QUEUED"
    job = finished(client, job_id)
    assert job["status"] == "SUCCEEDED" and job["error"] is None and job["attempts"] == 1
    assert job["result"]["object"] == "text_completion" and job["result"]["usage"]["completion_tokens"] == 8
    assert job["queuedAt"] <= job["startedAt"] <= job["finishedAt"]


def test_s0_log_events_carry_the_job_id_across_deployments(client, platform):
    job_id = new_id("logged")
    submit(client, headers={"X-Request-Id": job_id})
    assert finished(client, job_id)["status"] == "SUCCEEDED"
    lines = log_lines_with(platform.session_dir, job_id, {"Ingress", "JobConsumer", "LLMServer"})
    events = {record.get("event"): record for records in lines.values() for record in records}
    assert {"inference.submit_accepted", "inference.started", "inference.completed"} <= set(events)
    completed = events["inference.completed"]
    assert completed["result"] == "SUCCESS" and completed["status"] == "SUCCEEDED" and completed["latency_ms"] > 0
    assert all(record["request_id"] == job_id for record in lines["LLMServer"])  # the replayed request's id


def test_the_id_comes_from_the_header_else_the_body_and_a_resubmission_is_the_same_job(client):
    body_id = new_id("client")
    first = submit(client, clientRequestId=f"  {body_id} ")
    assert first.status_code == 202 and first.json()["requestId"] == body_id
    again = submit(client, clientRequestId=body_id)
    assert again.status_code == 202 and again.headers["x-job-existing"] == "true"
    assert finished(client, body_id)["attempts"] == 1  # one run, not two
    generated = submit(client).json()["requestId"]
    assert uuid.UUID(generated)


@pytest.mark.parametrize(("body", "status", "title"), [
    ({"model": "tiny-llama"}, 400, "validation_failed"),
    ({"prompt": "   ", "model": "tiny-llama"}, 400, "validation_failed"),
    ({"prompt": "hi", "model": "gpt-9"}, 404, "unknown_model"),
])
def test_s0_refuses_a_bad_submission_with_a_problem(client, body, status, title):
    response = client.post("/v1/inference", json=body)
    assert response.status_code == status and response.json()["title"] == title
    assert response.headers["content-type"] == "application/problem+json"


def test_an_unknown_job_is_404(client):
    for route in ("/v1/inference", "/v1/jobs"):
        response = client.get(f"{route}/{new_id('nobody')}")
        assert response.status_code == 404 and response.json()["title"] == "unknown_job"


def test_a_graph_runs_as_a_job_and_a_bad_body_is_refused_before_it_is_queued(client):
    response = client.post("/v1/jobs/recommend", json={"user_id": 7, "k": 3})
    assert response.status_code == 202 and response.headers["location"].startswith("/v1/jobs/")
    job = finished(client, response.json()["requestId"], "/v1/jobs")
    assert job["status"] == "SUCCEEDED"
    assert job["result"] == client.post("/v1/graphs/recommend", json={"user_id": 7, "k": 3}).json()
    refused = client.post("/v1/jobs/recommend", json={"user_id": "seven"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "user_id"
    assert client.post("/v1/jobs/nonesuch", json={}).status_code == 404


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/graphs/recommend", {"user_id": 3}),
    ("/v1/chat/completions", {"model": "tiny-llama", "max_tokens": 6, "temperature": 0,
                              "messages": [{"role": "user", "content": "Review Seoul Garden."}]}),
])
def test_prefer_respond_async_turns_a_route_into_a_job(client, path, body):
    response = client.post(path, json=body, headers={"Prefer": "respond-async"})
    assert response.status_code == 202 and response.headers["preference-applied"] == "respond-async"
    job = finished(client, response.json()["requestId"], "/v1/jobs")
    assert job["status"] == "SUCCEEDED" and job["httpStatus"] == 200
    synchronous = client.post(path, json=body).json()
    if path.startswith("/v1/graphs"):
        assert job["result"] == synchronous
    else:
        assert job["result"]["choices"][0]["message"]["content"] == synchronous["choices"][0]["message"]["content"]


def test_a_job_past_its_timeout_fails_and_its_work_is_cancelled(client, ask):
    """The work outlasts the deadline by construction: `abandoned` calls `hung`, which never answers."""
    job_id = new_id("slow")
    before = ask("hung", "cancelled")
    accepted = client.post("/v1/jobs/abandoned", json={"x": 1},
                           headers={"X-Request-Id": job_id, "X-Request-Timeout": "0.3"})
    assert accepted.status_code == 202
    job = finished(client, job_id, "/v1/jobs")
    assert (job["status"], job["error"]) == ("FAILED", "timeout")
    assert job["finishedAt"] - job["startedAt"] < 3
    eventually(lambda: ask("hung", "cancelled") > before, 5, what="the hung call cancelled")


def test_cancel_a_queued_job_and_a_running_one(client):
    running, queued = new_id("run"), new_id("queued")
    # More than the consumers take at once at their most (2 replicas of 4: an earlier test may have scaled them
    # up), so the low job is still queued when it is cancelled.
    backlog = [new_id("fill") for _ in range(8)]
    submit(client, headers={"X-Request-Id": running}, **LONG)
    for job_id in backlog:
        submit(client, headers={"X-Request-Id": job_id}, **LONG)
    submit(client, headers={"X-Request-Id": queued, "X-Priority": "low"}, **LONG)
    cancelled = client.delete(f"/v1/inference/{queued}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED"
    # 202 promises to try: a cancel that lands in the job's last tick loses to its ending, so a job that
    # ended SUCCEEDED that way is followed by another (at most two more).
    for attempt in range(3):
        if attempt:
            running = new_id("run")
            submit(client, headers={"X-Request-Id": running, "X-Priority": "high"}, **LONG)
        eventually(lambda: client.get(f"/v1/inference/{running}").json()["status"] == "RUNNING", 30,
                   what=f"{running} RUNNING")
        assert client.delete(f"/v1/inference/{running}").status_code == 202
        job = finished(client, running)
        if job["status"] != "SUCCEEDED":
            break
    assert (job["status"], job["error"]) == ("CANCELLED", "cancelled")
    for job_id in backlog:
        client.delete(f"/v1/inference/{job_id}")
    never_ran = finished(client, queued)
    assert never_ran["attempts"] == 0 and never_ran["startedAt"] is None


def test_a_full_queue_answers_429_at_once(platform, client):
    change = {"Ingress": user_config_change(jobs={"max_queued": 1})}
    with reconfigured(platform, change):
        # More than the consumers may hold at their most (2 replicas x 4 threads, each with one prefetched), so
        # some stay waiting past the bound of one.
        ids = [new_id("full") for _ in range(24)]
        answers = [submit(client, headers={"X-Request-Id": job_id}, **LONG) for job_id in ids]
        statuses = [answer.status_code for answer in answers]
        assert 429 in statuses and statuses[0] == 202
        rejected = answers[statuses.index(429)]
        assert rejected.json()["status"] == "REJECTED" and rejected.json()["error"] == "queue_full"
        assert rejected.headers["retry-after"] == "1"
        assert client.get(f"/v1/inference/{rejected.json()['requestId']}").json()["status"] == "REJECTED"
        for job_id in ids:
            client.delete(f"/v1/inference/{job_id}")


def test_under_a_backlog_higher_tiers_start_first(client):
    blockers = [new_id("block") for _ in range(10)]
    low, high = [new_id("low") for _ in range(3)], [new_id("high") for _ in range(3)]
    for job_id in blockers:
        submit(client, headers={"X-Request-Id": job_id}, **LONG)
    for tier, ids in (("low", low), ("high", high)):
        for job_id in ids:
            assert submit(client, headers={"X-Request-Id": job_id, "X-Priority": tier}, **LONG).json()["tier"] == tier
    jobs = {job_id: finished(client, job_id, wait_s=180) for job_id in low + high}
    # A low job that took a slot freed before the high ones were queued ran ahead of them rightly; the rest
    # waited beside them, and the high ones go first.
    all_high_queued = max(jobs[job_id]["queuedAt"] for job_id in high)
    waited = [job_id for job_id in low if jobs[job_id]["startedAt"] > all_high_queued]
    assert waited, "no low job waited beside the high ones: nothing to order"
    assert max(jobs[job_id]["startedAt"] for job_id in high) < min(jobs[job_id]["startedAt"] for job_id in waited)


def test_a_job_that_cannot_get_a_model_slot_in_time_is_rejected(platform, client):
    limits = {"LLMServer": user_config_change(limits={"max_concurrent_inference": 1})}
    with reconfigured(platform, limits):
        ids = [new_id("limited") for _ in range(6)]
        for job_id in ids:
            submit(client, headers={"X-Request-Id": job_id}, max_tokens=240, ignore_eos=True)
        endings = [finished(client, job_id, wait_s=120) for job_id in ids]
    outcomes = {(job["status"], job["error"]) for job in endings}
    assert ("SUCCEEDED", None) in outcomes and ("REJECTED", "concurrency_limit_reached") in outcomes


def test_job_metrics_reach_prometheus(client):
    import ray

    job_id = new_id("metrics")
    submit(client, headers={"X-Request-Id": job_id})
    assert finished(client, job_id)["status"] == "SUCCEEDED"
    port = ray.nodes()[0]["MetricsExportPort"]
    wanted = ("ray_jobs_submitted_total", "ray_jobs_finished_total", "ray_jobs_queue_wait_seconds_count",
              "ray_jobs_run_seconds_count", "ray_jobs_queue_depth")
    def page_with_every_metric() -> str | None:
        page = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        return page if all(name in page for name in wanted) else None

    text = eventually(page_with_every_metric, 30, interval_s=0.5, what=str(wanted))
    assert 'status="SUCCEEDED"' in text and 'tier="normal"' in text


PII = "Call me at 010-1234-5678 or kim.minsu@example.com; RRN 900101-1234567, card 4111 1111 1111 1111."


def test_what_a_job_keeps_is_sealed_and_its_body_goes_when_it_ends(client):
    """Was: the body (base64) and the answer readable in Redis and its AOF files for 24 h."""
    job_id = new_id("pii")
    assert submit(client, PII, headers={"X-Request-Id": job_id}).status_code == 202
    store = redis.Redis.from_url(PlatformSettings().redis_url)

    def at_rest() -> bytes:
        return b"".join(store.get(key) or b"" for key in store.keys(f"job:{job_id}*"))

    for needle in ("010-1234-5678", "kim.minsu", "900101", "4111 1111", base64.b64encode(PII.encode()).decode()[:20]):
        assert needle.encode() not in at_rest()
    assert finished(client, job_id)["status"] == "SUCCEEDED"
    assert not store.exists(f"job:{job_id}:input") and store.exists(f"job:{job_id}:result")
    assert client.get(f"/v1/inference/{job_id}").json()["result"]["choices"]  # still readable by its owner


def test_a_job_body_over_its_tiers_budget_is_413_and_kept_nowhere(client):
    job_id = new_id("big")
    body = {"model": "tiny-llama", "max_tokens": 1, "messages": [{"role": "user", "content": "a" * 600_000}]}
    refused = client.post("/v1/chat/completions", json=body,
                          headers={"Prefer": "respond-async", "X-Priority": "low", "X-Request-Id": job_id})
    assert refused.status_code == 413 and refused.json()["title"] == "payload_too_large"
    assert client.get(f"/v1/jobs/{job_id}").status_code == 404


def test_prefer_is_ignored_where_a_route_cannot_run_as_a_job(client):
    """Was: any POST path was queued, the operator's dead-letter requeue among them."""
    answer = client.post("/v1/jobs/dead-letters/nobody/requeue", headers={"Prefer": "respond-async"})
    assert answer.status_code == 404 and "preference-applied" not in answer.headers
