"""SIGTERM to `make run` (`python -m serve_app.run`) under load: readiness turns 503 first, the stream in
flight completes, new requests get a fast 503 with Retry-After, no job is left RUNNING (taken ones finish,
the rest stay queued), then the process exits on its own. Runs a platform of its own, on free ports and
its own job queue, so the session's platform is untouched."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import httpx
import pytest
import redis
import yaml

from serve_app.common.settings import PlatformSettings, REPO_ROOT
from serve_app.jobs.settings import JobSettings
from serve_app.jobs.store import JobStore
from serve_app.local_cluster import admin_headers, free_port, wait_ready

pytestmark = pytest.mark.fault
CHAT = {"model": "tiny-llama", "messages": [{"role": "user", "content": "Describe Seoul."}], "max_tokens": 160,
        "ignore_eos": True}


@pytest.fixture
def own_platform(tmp_path):
    """`python -m serve_app.run` on a copy of serve_config.yaml with free ports and its own job queue."""
    config = yaml.safe_load((REPO_ROOT / "serve_config.yaml").read_text())
    port = free_port()
    config["http_options"]["port"], config["grpc_options"]["port"] = port, free_port()
    queue = f"drain-{uuid.uuid4().hex[:8]}"
    for deployment in config["applications"][0]["deployments"]:
        if deployment["name"] == "JobConsumer":
            deployment["autoscaling_config"]["policy"]["policy_kwargs"]["queue_name"] = queue
    path = tmp_path / "serve_config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    # HAProxy's own ports and the Ingress replicas' direct ports apart from any other platform's here (the
    # session's takes a range within 32000-37999 and 42000-47999: serve_app/local_cluster.py).
    env.update(PLATFORM_JOBS_QUEUE_NAME=queue, RAY_SERVE_HAPROXY_STATS_PORT=str(free_port()),
               RAY_SERVE_HAPROXY_METRICS_PORT=str(free_port()), PLATFORM_DRAIN_TIMEOUT_S="60",
               RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT="38000", RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT="38099",
               RAY_SERVE_DIRECT_INGRESS_MIN_GRPC_PORT="48000", RAY_SERVE_DIRECT_INGRESS_MAX_GRPC_PORT="48099")
    log = (tmp_path / "run.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "serve_app.run", str(path)], env=env, cwd=REPO_ROOT,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}", 600)
        yield process, f"http://127.0.0.1:{port}", queue
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            subprocess.run([str(REPO_ROOT / ".venv/bin/ray"), "stop", "--force"], capture_output=True)


def stream_chat(http: httpx.Client, started: threading.Event, result: dict) -> None:
    with http.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as response:
        result["status"] = response.status_code
        events = []
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(line[6:])
                started.set()
        result["events"] = events


def test_sigterm_drains_then_exits(own_platform):
    process, base_url, queue = own_platform
    http = httpx.Client(base_url=base_url, headers=admin_headers(), timeout=120)
    jobs = [f"drain-{uuid.uuid4().hex[:10]}" for _ in range(12)]
    for job_id in jobs:
        body = {"prompt": "Review Seoul Garden.", "model": "tiny-llama", "max_tokens": 64, "ignore_eos": True}
        assert http.post("/v1/inference", json=body, headers={"X-Request-Id": job_id}).status_code == 202
    store = JobStore(PlatformSettings().redis_url, JobSettings(queue_name=queue))
    deadline = time.monotonic() + 120
    while not any(store.get(job_id).status == "RUNNING" for job_id in jobs):  # a consumer took one
        assert time.monotonic() < deadline, "no job started"
        time.sleep(0.2)
    started, streamed = threading.Event(), {}
    streaming = threading.Thread(target=stream_chat, args=(http, started, streamed))
    streaming.start()
    assert started.wait(60), "the stream did not start"

    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    while (ready := http.get("/health/ready")).status_code != 503:
        assert time.monotonic() - signalled < 5, "readiness still 200 five seconds after SIGTERM"
        time.sleep(0.05)
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
    assert process.wait(240) == 0
    statuses = [store.get(job_id).status for job_id in jobs]
    print(f"\ndrain: readiness 503 after {readiness_s:.2f} s, refusal in {refusal_s * 1000:.0f} ms, "
          f"exit after {time.monotonic() - signalled:.0f} s; jobs {sorted(statuses)}")
    assert set(statuses) <= {"SUCCEEDED", "QUEUED"}, statuses
    # Each queued one is still a message on the queue (Celery's lists, one per priority), for the next consumer.
    broker = redis.Redis.from_url(PlatformSettings().redis_url)
    messages = sum(broker.llen(key) for key in broker.scan_iter(f"{queue}*") if broker.type(key) == b"list")
    assert messages >= statuses.count("QUEUED")
