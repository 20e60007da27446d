"""S1's limits and failures on the real engine: 429 past MAX_CONCURRENT_INFERENCE, 503 on timeout with
the engine request aborted, client disconnect aborting the stream, fallback, and the semantic cache."""

import asyncio
import time
import uuid

import httpx
import pytest

from testkit.platform import reconfigured, user_config_change
from testkit.polling import eventually
from tests.integration.replica_logs import log_lines_with

# 8 choices of 240 tokens each: long enough (about a second here) to be caught in the act.
LONG = {"model": "tiny-llama", "prompt": "The food", "max_tokens": 240, "n": 8, "ignore_eos": True}
TIMEOUT_S = 0.3


TIGHT_LLM = user_config_change(limits={"max_concurrent_inference": 2, "inference_timeout_sec": TIMEOUT_S})


@pytest.fixture(scope="module")
def engine_stats(ask):
    """`engine_stats()` asks LLMServer how many requests its engine has not finished."""
    def stats() -> dict:
        return ask("LLMServer", "engine_stats")

    stats()  # the first call sets up the handle's router (about a second), outside any timing
    return stats


def finished_record(platform, request_id: str) -> dict:
    lines = log_lines_with(platform.session_dir, request_id, {"LLMServer"})
    (record,) = [r for r in lines["LLMServer"] if r["message"] == "llm request finished"]
    return record


@pytest.fixture(scope="class")
def tight_limits(platform):
    with reconfigured(platform, {"LLMServer": TIGHT_LLM}):
        yield


@pytest.mark.usefixtures("tight_limits")
class TestUnderTightLimits:
    """MAX_CONCURRENT_INFERENCE 2 and INFERENCE_TIMEOUT_SEC 0.3, for this class only."""

    def test_past_the_concurrency_limit_requests_get_429_at_once(self, platform):
        async def burst() -> list[tuple[int, float, httpx.Response]]:
            async with httpx.AsyncClient(base_url=platform.base_url, headers=platform.headers, timeout=30) as http:
                async def one():
                    started = time.perf_counter()
                    response = await http.post("/v1/completions", json=LONG)
                    return response.status_code, time.perf_counter() - started, response
                return await asyncio.gather(*(one() for _ in range(6)))

        results = asyncio.run(burst())
        refused = [(elapsed, r) for status, elapsed, r in results if status == 429]
        admitted = [elapsed for status, elapsed, _ in results if status != 429]
        assert len(refused) >= 3 and admitted
        for elapsed, response in refused:
            assert response.json()["detail"] == "동시 추론 요청 한도 초과"
            assert response.headers["retry-after"] == "1"
            assert elapsed < min(admitted)  # refused at once, not after queueing


    def test_timeout_is_503_with_s1_message_and_the_engine_stops(self, platform, engine_stats):
        request_id = f"timeout-{uuid.uuid4()}"
        async def call_while_watching():
            async with httpx.AsyncClient(base_url=platform.base_url, headers=platform.headers, timeout=30) as http:
                call = asyncio.create_task(http.post("/v1/completions", json=LONG, headers={"X-Request-Id": request_id}))
                await asyncio.to_thread(eventually, lambda: engine_stats()["unfinished"] >= 1, 5, 0.02,
                                        "the request reaching the engine")
                return await call

        response = asyncio.run(call_while_watching())
        answered = time.monotonic()
        assert response.status_code == 503
        assert response.json()["detail"] == f"LLM 추론 타임아웃 ({TIMEOUT_S}초)"
        # Generating all 8 x 240 tokens takes about a second; the engine drops the request at once.
        eventually(lambda: engine_stats()["unfinished"] == 0, 0.3, 0.02, "the engine dropping the request")
        assert time.monotonic() - answered < 0.5
        record = finished_record(platform, request_id)
        assert record["result"] == "TIMEOUT" and record["completion_tokens"] < 8 * 240


def test_client_disconnect_mid_stream_aborts_the_engine_request(platform, engine_stats):
    request_id = f"gone-{uuid.uuid4()}"
    with httpx.stream("POST", f"{platform.base_url}/v1/completions", json={**LONG, "stream": True},
                      headers={**platform.headers, "X-Request-Id": request_id}, timeout=30) as response:
        lines = response.iter_lines()  # kept: a dropped line iterator closes the connection itself
        assert next(lines).startswith("data: ")
        assert engine_stats()["unfinished"] >= 1
    closed = time.monotonic()
    eventually(lambda: engine_stats()["unfinished"] == 0, 2, 0.02, "the engine dropping the request")
    record = finished_record(platform, request_id)
    assert record["result"] == "CANCELLED" and record["completion_tokens"] < 8 * 240
    assert time.monotonic() - closed < 3


def test_fallback_answers_200_with_the_configured_text(platform):
    fallback = "잠시 후 다시 시도해 주세요."
    changes = {"LLMServer": TIGHT_LLM,
               "Ingress": user_config_change(llm={"llm_fallback_response": fallback})}
    with reconfigured(platform, changes), httpx.Client(base_url=platform.base_url, headers=platform.headers, timeout=30) as http:
        response = http.post("/v1/completions", json=LONG)  # times out
        assert response.status_code == 200
        assert [choice["text"] for choice in response.json()["choices"]] == [fallback] * 8
        assert response.headers["x-completion-source"] == "fallback"
        # A client's own mistake is still refused.
        assert http.post("/infer", json={"query": ""}).status_code == 422


def test_semantic_cache_answers_near_duplicates_with_the_same_params(platform):
    cache = user_config_change(semantic_cache={"enabled": True, "similarity_threshold": 0.9})
    ask = {"model": "tiny-llama", "max_tokens": 16, "temperature": 0}
    with reconfigured(platform, {"Ingress": cache}), httpx.Client(base_url=platform.base_url, headers=platform.headers, timeout=30) as http:
        def chat(text: str, **params) -> httpx.Response:
            return http.post("/v1/chat/completions",
                             json={**ask, **params, "messages": [{"role": "user", "content": text}]})

        first = chat("How was the pasta at Mama Rosa?")
        again = chat("How was the pasta at Mama Rosa ?")
        assert first.headers["x-completion-source"] == "engine"
        assert again.headers["x-completion-source"] == "cache"
        assert again.json()["choices"] == first.json()["choices"]
        assert chat("How was the pasta at Mama Rosa?", max_tokens=8).headers["x-completion-source"] == "engine"
        assert chat("How was the pasta at Mama Rosa?", temperature=0.5).headers["x-completion-source"] == "engine"
        assert chat("Is the parking at Jeju Grill free?").headers["x-completion-source"] == "engine"
