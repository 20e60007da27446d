"""The graphs declared in serve_config.yaml, on the real platform."""

import asyncio
import dataclasses
import json
import random
import time
import uuid

import httpx
import pytest

from serve_app.artifacts import llm_quality, task_data
from serve_app.common import llm_tasks

REVIEWS = ["음식이 맛있어요. 연락처 010-1234-5678", "The staff were kind and the bibimbap was fresh.",
           "Waited long, but the soup was great."]


# Neither the LLM's training seed, nor the builder's, nor the unit tests'.
HELDOUT_SEED = 3


@pytest.mark.parametrize("language", llm_tasks.LANGUAGES)
def test_recommend_explain_explains_each_top_item_in_the_asked_language(client, language):
    for user_id in (7, 8, 9):
        answer = client.post("/v1/graphs/recommend_explain", json={"user_id": user_id, "language": language}).json()
        assert len(answer["items"]) == 5 and not llm_tasks.degenerate(answer["explanation"])
        assert answer["explanation"].startswith("추천:" if language == "ko" else "Picked for you:"), answer
        for item in answer["items"][:3]:
            assert f"{item['item_id']} " in answer["explanation"], answer
    refused = client.post("/v1/graphs/recommend_explain", json={"user_id": "seven", "language": "fr"})
    assert refused.status_code == 422 and {e["field"] for e in refused.json()["errors"]} == {"user_id", "language"}


def test_review_analysis_answers_korean_on_the_task_model_within_its_gates_and_english_on_the_pretrained_one(
        platform, client):
    seen = {example.prompt for example in task_data.training_examples()}
    restaurants = [example for example in task_data.heldout_examples(12, HELDOUT_SEED, seen)
                   if example.task == "sentiment"]

    def calls(node: str) -> int:
        return client.get("/v1/graphs/review_analysis/stats").json()["nodes"].get(node, {}).get("calls", 0)

    async def analyse(example, slots: asyncio.Semaphore):
        body = {"restaurant_id": f"r-{uuid.uuid4().hex[:8]}", "analysis": "gates", "reviews": list(example.reviews)}
        async with slots, httpx.AsyncClient(base_url=platform.base_url, headers=platform.headers, timeout=60) as http:
            return (await http.post("/v1/graphs/review_analysis", json=body)).json()

    async def analyse_all():
        # A few at a time: this is about answers, not overload (three LLM calls each).
        slots = asyncio.Semaphore(4)
        return await asyncio.gather(*(analyse(example, slots) for example in restaurants))

    before = {node: calls(node) for node in ("en_sentiment_json", "sentiment_text")}
    answered = list(zip(restaurants, asyncio.run(analyse_all())))
    korean = [(dataclasses.replace(example, task=task), answer[task]) for example, answer in answered
              for task in ("sentiment", "summary", "strengths") if example.language == "ko"]
    quality = llm_quality.score(korean)
    assert set(quality) == {"ko"} and llm_quality.gates_held(quality), quality
    english = [answer for example, answer in answered if example.language == "en"]
    assert english, "the held-out set has English restaurants"
    for answer in english:  # the pretrained model's answers, in the task model's shape
        assert answer["sentiment"] in llm_tasks.SENTIMENTS, answer
        assert answer["strengths"] == "none" or set(answer["strengths"].split(", ")) <= set(llm_tasks.ASPECTS), answer
        assert not llm_tasks.degenerate(answer["summary"]), answer
    assert calls("en_sentiment_json") - before["en_sentiment_json"] == len(english)
    assert calls("sentiment_text") - before["sentiment_text"] == len(restaurants) - len(english)


def test_review_analysis_sends_the_llm_the_representative_reviews_of_a_long_list(client):
    def embedded() -> int:
        return client.get("/v1/graphs/review_analysis/stats").json()["nodes"].get("vectors", {}).get("calls", 0)

    rng, before = random.Random(HELDOUT_SEED), embedded()
    for language in llm_tasks.LANGUAGES:
        shown = task_data.restaurant(rng, language, reviews=12)
        answer = client.post("/v1/graphs/review_analysis", json={
            "restaurant_id": f"r-{uuid.uuid4().hex[:8]}", "analysis": "top-k", "reviews": shown.reviews}).json()
        assert answer["sentiment"] in llm_tasks.SENTIMENTS, answer
        assert not any(llm_tasks.degenerate(answer[task]) for task in ("summary", "strengths")), answer
    assert embedded() == before + 2  # one replica here: its counts are the platform's


def test_a_client_deadline_shorter_than_the_graph_answers_504_at_once(client):
    # Reviews never sent before and a 1 ms deadline: three LLM calls over handles cannot finish in it, however
    # short the trained model's answers are (at 50 ms, on a fast machine, they once did).
    reviews = [f"{review} #{uuid.uuid4().hex[:6]}" for review in REVIEWS]
    started = time.perf_counter()
    response = client.post("/v1/graphs/review_analysis", headers={"X-Request-Timeout": "0.001"},
                           json={"restaurant_id": f"r-{uuid.uuid4().hex[:8]}", "analysis": "deadline", "reviews": reviews})
    assert response.status_code == 504 and response.json()["title"] == "deadline_exceeded"
    assert time.perf_counter() - started < 1
    bad = client.post("/v1/graphs/review_analysis", headers={"X-Request-Timeout": "soon"}, json={})
    assert bad.status_code == 422 and "X-Request-Timeout" in [e["field"] for e in bad.json()["errors"]]


def test_review_analysis_refuses_a_concurrent_duplicate_and_reuses_a_recent_result(platform):
    body = {"restaurant_id": f"r-{uuid.uuid4().hex[:8]}", "analysis": "weekly", "reviews": REVIEWS}

    async def twice():
        async with httpx.AsyncClient(base_url=platform.base_url, headers=platform.headers, timeout=60) as http:
            return await asyncio.gather(*(http.post("/v1/graphs/review_analysis", json=body) for _ in range(2)))

    statuses = sorted(response.status_code for response in asyncio.run(twice()))
    assert statuses == [200, 409]
    with httpx.Client(base_url=platform.base_url, headers=platform.headers, timeout=60) as http:
        again = http.post("/v1/graphs/review_analysis", json=body)
        other = http.post("/v1/graphs/review_analysis", json={**body, "analysis": "monthly"})
    assert again.status_code == 200 and again.json()["reused"] is True
    assert other.status_code == 200 and other.json()["reused"] is False
    assert {"sentiment", "summary", "strengths"} <= set(again.json())


def test_a_concurrent_duplicate_is_refused_over_v2_as_over_http(platform):
    body = {"restaurant_id": f"r-{uuid.uuid4().hex[:8]}", "analysis": "v2", "reviews": REVIEWS}
    row = {"inputs": [{"name": "INPUT", "datatype": "BYTES", "shape": [1], "data": [json.dumps(body)]}]}

    async def both():
        async with httpx.AsyncClient(base_url=platform.base_url, headers=platform.headers, timeout=60) as http:
            return await asyncio.gather(http.post("/v1/graphs/review_analysis", json=body),
                                        http.post("/v2/models/review_analysis/infer", json=row))

    over_http, over_v2 = asyncio.run(both())
    assert sorted([over_http.status_code, over_v2.status_code]) == [200, 409]
    refused = over_v2 if over_v2.status_code == 409 else over_http
    assert "already running" in (refused.json().get("error") or refused.json()["detail"])


def test_the_openapi_document_lists_every_declared_graph_with_its_input(client):
    from serve_app.app import serve_config_args

    paths = client.get("/openapi.json").json()["paths"]
    for name, spec in serve_config_args().graphs.items():
        operation = paths[f"/v1/graphs/{name}"]["post"]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        assert set(schema["properties"]) == set(spec.input)
        assert {"409", "422", "504"} <= set(operation["responses"])
    recommend = paths["/v1/graphs/recommend"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert recommend["required"] == ["user_id"] and recommend["properties"]["k"]["maximum"] == 100
