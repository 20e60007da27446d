"""LLM metrics reach Ray's Prometheus endpoint: TTFT, TPOT, tokens, goodput, results."""

import re
import time

import httpx
import ray


def _scrape_until(metric: str, at_least: float, timeout_s: float = 30) -> str:
    """Ray's Prometheus text once `metric` (summed over tiny-llama series) reached `at_least`."""
    port = ray.nodes()[0]["MetricsExportPort"]
    deadline = time.monotonic() + timeout_s
    while True:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        if _value(text, metric) >= at_least or time.monotonic() > deadline:
            return text


def _value(text: str, metric: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(metric) and 'model="tiny-llama"' in line)


def test_ttft_tpot_tokens_and_goodput_are_exported(client):
    for _ in range(3):
        response = client.post("/v1/completions", json={"model": "tiny-llama", "prompt": "The food",
                                                        "max_tokens": 16, "ignore_eos": True})
        assert response.status_code == 200
    text = _scrape_until("ray_llm_ttft_seconds_count", 3)
    assert _value(text, "ray_llm_ttft_seconds_count") >= 3
    assert _value(text, "ray_llm_tpot_seconds_count") >= 3
    assert _value(text, "ray_llm_completion_tokens_total") >= 48
    assert _value(text, "ray_llm_prompt_tokens_total") > 0
    assert _value(text, "ray_llm_goodput_requests_total") >= 3  # TTFT far below the 2 s SLA here
    assert re.search(r'^ray_llm_requests_total\{.*result="SUCCESS"', text, re.MULTILINE)
