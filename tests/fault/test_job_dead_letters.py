"""A job whose graph keeps failing transiently is retried with backoff, then dead-lettered; an operator
lists it, heals the cause and requeues it, and it succeeds."""

from testkit.config import JOB_ENV
from testkit.platform import reconfigured
from testkit.polling import eventually

TRIES = int(JOB_ENV["PLATFORM_JOBS_MAX_RETRIES"]) + 1


def dead_letters(http) -> dict[str, dict]:
    return {letter["requestId"]: letter for letter in http.get("/v1/jobs/dead-letters").json()}


def test_a_dead_letter_can_be_listed_and_requeued(platform, graphs, failing_job):
    http, config = graphs
    job_id = failing_job  # submitted when the fault tests began (tests/fault/conftest.py)
    job = eventually(lambda: (job := http.get(f"/v1/jobs/{job_id}", params={"wait": 5}).json())["status"] == "FAILED"
                     and job, 120, interval_s=0, what=f"{job_id} FAILED")
    assert job["attempts"] == TRIES and job["error"] == "injected_fault"
    # The job reads FAILED first; Celery moves its message to the dead-letter queue a moment after.
    letter = eventually(lambda: dead_letters(http).get(job_id), 10, 0.2, f"{job_id} a dead letter")
    assert "injected" in letter["error"]
    with reconfigured(platform, {"flaky_jobs": {"user_config": {"error_rate": 0.0}}}, base=config):
        requeued = http.post(f"/v1/jobs/dead-letters/{job_id}/requeue")
        assert requeued.status_code == 200 and requeued.json()["status"] in ("QUEUED", "RUNNING", "SUCCEEDED")
        job = http.get(f"/v1/jobs/{job_id}", params={"wait": 30}).json()
        assert job["status"] == "SUCCEEDED" and job["result"]["x"] == 1
    assert job_id not in dead_letters(http)
    assert http.post(f"/v1/jobs/dead-letters/{job_id}/requeue").status_code == 404
