"""A job whose graph keeps failing transiently is retried with backoff, then dead-lettered; an operator
lists it, heals the cause and requeues it, and it succeeds."""

import time
import uuid

from serve_app.local_cluster import reconfigured


def test_a_dead_letter_can_be_listed_and_requeued(platform, graphs):
    http, config = graphs
    job_id = f"dead-{uuid.uuid4().hex[:10]}"
    # `retried` calls `flaky`, which answers 503 to every call: a transient failure, retried by Celery.
    assert http.post("/v1/jobs/retried", json={"x": 1}, headers={"X-Request-Id": job_id}).status_code == 202
    deadline = time.monotonic() + 200  # six tries, 10, 20, 30, 30 and 30 s apart (JOB_ENV)
    while (job := http.get(f"/v1/jobs/{job_id}", params={"wait": 5}).json())["status"] != "FAILED":
        assert time.monotonic() < deadline, job
    assert job["attempts"] == 6 and job["error"] == "injected_fault"  # max_retries 5: six tries in all
    letters = {letter["requestId"]: letter for letter in http.get("/v1/jobs/dead-letters").json()}
    assert job_id in letters and "injected" in letters[job_id]["error"]
    with reconfigured(platform, {"flaky": {"user_config": {"error_rate": 0.0}}}, base=config):
        requeued = http.post(f"/v1/jobs/dead-letters/{job_id}/requeue")
        assert requeued.status_code == 200 and requeued.json()["status"] in ("QUEUED", "RUNNING", "SUCCEEDED")
        job = http.get(f"/v1/jobs/{job_id}", params={"wait": 30}).json()
        assert job["status"] == "SUCCEEDED" and job["result"]["x"] == 1
    assert job_id not in {letter["requestId"] for letter in http.get("/v1/jobs/dead-letters").json()}
    assert http.post(f"/v1/jobs/dead-letters/{job_id}/requeue").status_code == 404
