"""SIGTERM to `make run` (`python -m serve_app.ops.run`) under load: readiness turns 503 first, the stream in
flight completes, new requests get a fast 503 with Retry-After, no job is left RUNNING (taken ones finish,
the rest stay queued), then the process exits on its own. Stops the session's platform, so it runs last."""

import json
import signal
import threading
import time
import uuid

import httpx
import pytest
import redis

from serve_app.common.settings import PlatformSettings
from serve_app.jobs.autoscaling import UNACKED_KEY
from serve_app.jobs.settings import JobSettings
from serve_app.jobs.store import JobStore
from testkit.platform import DRAIN_TIMEOUT_S
from testkit.polling import eventually

pytestmark = [pytest.mark.fault, pytest.mark.stops_platform]
CHAT = {"model": "tiny-llama", "messages": [{"role": "user", "content": "Describe Seoul."}], "max_tokens": 96,
        "ignore_eos": True}


def stream_chat(http: httpx.Client, started: threading.Event, result: dict) -> None:
    with http.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as response:
        result["status"] = response.status_code
        events = []
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(line[6:])
                started.set()
        result["events"] = events


def test_sigterm_drains_then_exits(running):
    process, queue = running.process, running.queue
    http = httpx.Client(base_url=running.platform.base_url, headers=running.platform.headers, timeout=120)
    jobs = [f"drain-{uuid.uuid4().hex[:10]}" for _ in range(8)]
    for job_id in jobs:
        body = {"prompt": "Review Seoul Garden.", "model": "tiny-llama", "max_tokens": 64, "ignore_eos": True}
        assert http.post("/v1/inference", json=body, headers={"X-Request-Id": job_id}).status_code == 202
    store = JobStore(PlatformSettings().redis_url, JobSettings(queue_name=queue))
    eventually(lambda: any(store.get(job_id).status == "RUNNING" for job_id in jobs), 120, interval_s=0.2,
               what="a job taken by a consumer")
    started, streamed = threading.Event(), {}
    streaming = threading.Thread(target=stream_chat, args=(http, started, streamed))
    streaming.start()
    assert started.wait(60), "the stream did not start"

    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    ready = eventually(lambda: (answer := http.get("/health/ready")).status_code == 503 and answer, 5,
                       interval_s=0.05, what="readiness 503 after SIGTERM")
    readiness_s = time.monotonic() - signalled
    assert ready.json()["status"] == "draining"
    asked = time.monotonic()
    refused = http.post("/v1/graphs/recommend", json={"user_id": 7})
    refusal_s = time.monotonic() - asked
    assert refused.status_code == 503 and refused.json()["title"] == "draining"
    assert refused.headers["retry-after"] and refusal_s < 1.0

    streaming.join(120)
    assert streamed["status"] == 200 and streamed["events"][-1] == "[DONE]"
    reasons = [choice.get("finish_reason") for event in streamed["events"][:-1]
               for choice in json.loads(event)["choices"]]
    assert "length" in reasons  # the whole answer (max_tokens), not a cut stream
    assert process.wait(DRAIN_TIMEOUT_S + 60) == 0
    statuses = [store.get(job_id).status for job_id in jobs]
    print(f"\ndrain: readiness 503 after {readiness_s:.2f} s, refusal in {refusal_s * 1000:.0f} ms, "
          f"exit after {time.monotonic() - signalled:.0f} s; jobs {sorted(statuses)}")
    assert set(statuses) <= {"SUCCEEDED", "QUEUED"}, statuses
    # Each queued one is still a message for the next consumer: on the queue (Celery's lists, one per priority),
    # or held by a consumer that was handing it back when it stopped, which the broker restores after the
    # visibility timeout.
    broker = redis.Redis.from_url(PlatformSettings().redis_url)
    waiting = sum(broker.llen(key) for key in broker.scan_iter(f"{queue}*") if broker.type(key) == b"list")
    held = sum(json.loads(entry)[2] == queue for entry in broker.hvals(UNACKED_KEY))
    assert waiting + held >= statuses.count("QUEUED"), (waiting, held)
