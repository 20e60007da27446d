"""S1's compatibility routes: `/infer`, `/infer/stream`, `/` and `/health`, with S1's schema and limits."""

import uuid

import httpx
import pytest

from tests.integration.replica_logs import log_lines_with


def test_infer_answers_generated_text(client):
    response = client.post("/infer", json={"query": "Write a review of Hanok Table.", "max_length": 24,
                                           "temperature": 0})
    assert response.status_code == 200
    assert response.json()["generated_text"].strip()


def test_infer_returns_every_sequence_asked_for(client):
    body = {"query": "Describe the image.", "max_length": 8, "num_return_sequences": 3}
    assert len(client.post("/infer", json=body).json()["generated_texts"]) == 3


def test_infer_stream_sends_text_events_then_done(platform):
    body = {"query": "Describe the image.", "max_length": 12, "temperature": 0}
    with httpx.stream("POST", f"{platform.base_url}/infer/stream", headers=platform.headers, json=body, timeout=30) as response:
        assert response.status_code == 200
        events = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]" and len(events) > 2


def test_a_query_longer_than_the_context_window_is_cut_not_refused(client):
    assert client.post("/infer", json={"query": "맛있어요 " * 800, "max_length": 8}).status_code == 200


@pytest.mark.parametrize("body, field", [
    ({}, "query"),
    ({"query": ""}, "query"),
    ({"query": "   "}, "query"),
    ({"query": "x" * 4097}, "query"),
    ({"query": "hi", "max_length": 0}, "max_length"),
    ({"query": "hi", "temperature": -1}, "temperature"),
    ({"query": "hi", "num_return_sequences": 9}, "num_return_sequences"),
])
def test_invalid_infer_requests_are_422_problems(client, body, field):
    response = client.post("/infer", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == [field]


def test_status_and_health_routes(client):
    assert client.get("/").json()["status"] == "ok"
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ready"


def test_pii_never_reaches_the_model_or_the_logs(client, platform):
    request_id = f"pii-{uuid.uuid4()}"
    query = "환불 부탁해요. 연락처 010-9876-5432, 메일 kim.minsu@example.co.kr"
    response = client.post("/infer", json={"query": query, "max_length": 4}, headers={"X-Request-Id": request_id})
    assert response.status_code == 200
    lines = log_lines_with(platform.session_dir, request_id, {"LLMServer"})
    finished = [r for r in lines["LLMServer"] if r["message"] == "llm request finished"]
    assert finished and "환불 부탁해요. 연락처 [PHONE]" in finished[0]["query"]
    assert len(finished[0]["query"]) <= 50
    assert finished[0]["prompt_tokens"] > 0 and finished[0]["ttft_ms"] > 0
    everything = str(lines)
    assert "9876" not in everything and "kim.minsu" not in everything
