"""Batches of jobs on the real platform: S2's batch analysis as one request of 20 restaurants, a job each
under review_analysis's dedupe rule (a second batch of them within the reuse window answers the stored
analyses), and a batch with one bad item refused whole."""

import time

import httpx

from tests.integration.test_jobs import new_id

GRAPH = "/v1/jobs/review_analysis/batch"
REVIEWS = [["Great bulgogi and friendly staff.", "The kimchi stew was too salty."],
           ["불고기가 정말 맛있어요.", "직원이 친절해요.", "Long wait on Fridays."],
           ["Fresh banchan, fair prices.", "주차가 불편해요."]]


def restaurants(prefix: str, count: int) -> list[dict]:
    return [{"restaurant_id": f"{prefix}-{n}", "analysis": "overview", "reviews": REVIEWS[n % len(REVIEWS)]}
            for n in range(count)]


def ended(client: httpx.Client, location: str, wait_s: float) -> dict:
    deadline = time.monotonic() + wait_s
    while True:
        batch = client.get(location, params={"wait": 10}).json()
        if batch["done"]:
            return batch
        assert time.monotonic() < deadline, f"the batch did not end in {wait_s} s: {batch['counts']}"


def test_a_batch_of_restaurants_runs_a_job_each_and_a_second_is_served_from_the_reuse_window(platform, new_api_key):
    # A low-tier key (10 requests/s): a batch of 20 jobs is one request per second, 20 of its minute.
    headers = {"Authorization": f"Bearer {new_api_key('batches', tier='low')}"}
    items, batch_id = restaurants(new_id("restaurant"), 20), new_id("batch")
    with httpx.Client(base_url=platform.base_url, headers=headers, timeout=60) as client:
        response = client.post(GRAPH, json={"items": items}, headers={"X-Request-Id": batch_id})
        assert response.status_code == 202 and response.headers["location"] == f"/v1/jobs/batches/{batch_id}"
        ids = [job["requestId"] for job in response.json()["jobs"]]
        assert ids == [f"{batch_id}.{n}" for n in range(20)] and response.json()["counts"]["QUEUED"] <= 20
        first = ended(client, response.headers["location"], wait_s=150)
        assert first["counts"]["SUCCEEDED"] == 20, [job["error"] for job in first["jobs"]]
        assert [job["result"]["restaurant_id"] for job in first["jobs"]] == [item["restaurant_id"] for item in items]
        assert {job["result"]["reused"] for job in first["jobs"]} == {False}
        assert client.get(f"/v1/jobs/{ids[0]}").json()["status"] == "SUCCEEDED"  # each is an ordinary job

        again = client.post(GRAPH, json={"items": items}, headers={"X-Request-Id": batch_id})
        assert again.status_code == 202 and again.headers["x-job-existing"] == "true"
        assert again.json()["jobs"] == first["jobs"]  # the same batch: nothing ran twice

        repeat = client.post(GRAPH, json={"items": items})  # a new batch of the same restaurants
        assert repeat.status_code == 202
        second = ended(client, repeat.headers["location"], wait_s=60)
    assert second["counts"]["SUCCEEDED"] == 20 and {job["result"]["reused"] for job in second["jobs"]} == {True}
    assert [{**job["result"], "reused": False} for job in second["jobs"]] == [job["result"] for job in first["jobs"]]


def test_a_batch_with_one_bad_item_is_refused_whole(client):
    items, batch_id = restaurants(new_id("refused"), 3), new_id("refused")
    items[1]["reviews"] = []
    response = client.post(GRAPH, json={"items": items}, headers={"X-Request-Id": batch_id})
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == ["items.1.reviews"]
    unknown = client.get(f"/v1/jobs/batches/{batch_id}")
    assert unknown.status_code == 404 and unknown.json()["title"] == "unknown_batch"
    assert client.get(f"/v1/jobs/{batch_id}.0").status_code == 404  # its good items were not queued either
    assert client.post(GRAPH, json={"items": []}).status_code == 422
    assert client.post("/v1/jobs/nonesuch/batch", json={"items": [{}]}).status_code == 404
