"""The gate on the running platform: every route family refuses a missing or bad key (in its own
protocol's error shape), scopes hold, a tenant sees only its own jobs, bodies over a family's limit are
413 while one just under the graphs limit (far over gRPC's 4 MiB) is served, and every answer carries
the security headers."""

import base64
import http.client
import io
import json
import socket

import httpx
import numpy as np
import openai
import pytest
import tritonclient.http as triton
from PIL import Image
from tritonclient.utils import InferenceServerException

from serve_app.common.input_limits import InputLimits
from serve_app.common.settings import PlatformSettings
from serve_app.common.shapes import shape_png
from serve_app.keys import new_key, open_key_store
from testkit.polling import eventually

LIMITS = InputLimits().body_bytes
IMAGE = base64.b64encode(shape_png("circle", 1)).decode()
# (method, path, body) per family; each needs a key.
KEYED = {
    "graphs": ("POST", "/v1/graphs/recommend", {"user_id": 1}),
    "llm": ("POST", "/v1/chat/completions", {"model": "tiny-llama", "messages": [{"role": "user", "content": "hi"}]}),
    "llm-models": ("GET", "/v1/models", None),
    "s1": ("POST", "/infer", {"query": "hi"}),
    "v2": ("GET", "/v2/models/classify", None),
    "jobs": ("GET", "/v1/jobs/some-job", None),
    "s0": ("POST", "/v1/inference", {"prompt": "hi", "model": "tiny-llama"}),
    "admin": ("GET", "/v1/jobs/dead-letters", None),
    "status": ("GET", "/", None),
}


def call(platform, method, path, body=None, headers=None):
    return httpx.request(method, f"{platform.base_url}{path}", json=body, headers=headers, timeout=60)


@pytest.mark.parametrize("family", KEYED)
@pytest.mark.parametrize("sent", [None, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic abc"},
                                  {"X-API-Key": "sfk_00000000_" + "A" * 43}])
def test_no_or_bad_key_is_401(platform, family, sent):
    method, path, body = KEYED[family]
    response = call(platform, method, path, body, sent)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    if path.startswith("/v2"):
        assert response.headers["content-type"] == "application/json" and "error" in response.json()
    else:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["title"] == "unauthenticated"


@pytest.mark.parametrize("path", ["/health/live", "/health/ready", "/health", "/v2/health/live", "/v2/health/ready",
                                  "/openapi.json"])
def test_health_and_the_api_document_are_open(platform, path):
    assert httpx.get(f"{platform.base_url}{path}", timeout=30).status_code == 200


def test_both_headers_carry_the_key(platform):
    assert call(platform, "GET", "/v1/models", headers={"Authorization": f"Bearer {platform.api_key}"}).status_code == 200
    assert call(platform, "GET", "/v1/models", headers={"X-API-Key": platform.api_key}).status_code == 200


def test_scopes(platform, new_api_key):
    key = new_api_key("graphs-only", scopes=("graphs",))
    headers = {"Authorization": f"Bearer {key}"}
    assert call(platform, "POST", "/v1/graphs/recommend", {"user_id": 1}, headers).status_code == 200
    for family in ("llm", "llm-models", "s1", "v2", "jobs", "s0", "admin"):
        method, path, body = KEYED[family]
        response = call(platform, method, path, body, headers)
        assert response.status_code == 403, family
    # Prefer: respond-async makes it a job: the jobs scope is needed too.
    assert call(platform, "POST", "/v1/graphs/recommend", {"user_id": 1},
                {**headers, "Prefer": "respond-async"}).status_code == 403
    # A graph's per-node stats are the operator's.
    assert call(platform, "GET", "/v1/graphs/classify/stats", headers=headers).status_code == 403
    assert call(platform, "GET", "/v1/graphs/classify/stats", headers=platform.headers).status_code == 200


def test_official_clients_send_the_key(platform):
    bad = openai.OpenAI(base_url=f"{platform.base_url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    good = openai.OpenAI(base_url=f"{platform.base_url}/v1", api_key=platform.api_key, max_retries=0)
    assert "tiny-llama" in [model.id for model in good.models.list()]
    with triton.InferenceServerClient(platform.base_url.removeprefix("http://")) as client:
        with pytest.raises(InferenceServerException) as refused:
            client.get_model_metadata("classify")
        assert refused.value.status() == "401"
        # tritonclient's own per-call headers= works too.
        assert client.get_model_metadata("classify", headers=platform.headers)["name"] == "classify"


def test_a_tenant_sees_only_its_own_jobs_and_its_tier_caps_the_priority(platform, new_api_key):
    mine = {"Authorization": f"Bearer {new_api_key('tenant-a', tier='low', scopes=('graphs', 'jobs'))}"}
    theirs = {"Authorization": f"Bearer {new_api_key('tenant-b', scopes=('graphs', 'jobs'))}"}
    submitted = call(platform, "POST", "/v1/jobs/recommend", {"user_id": 3}, {**mine, "X-Priority": "high"})
    assert submitted.status_code == 202 and submitted.json()["tier"] == "low"
    job = submitted.json()["requestId"]
    assert call(platform, "GET", f"/v1/jobs/{job}?wait=30", headers=mine).json()["status"] == "SUCCEEDED"
    assert call(platform, "GET", f"/v1/jobs/{job}", headers=theirs).status_code == 404
    assert call(platform, "DELETE", f"/v1/jobs/{job}", headers=theirs).status_code == 404
    assert call(platform, "GET", f"/v1/jobs/{job}", headers=platform.headers).status_code == 200  # admin
    # Reusing another tenant's id says nothing about that job.
    reused = call(platform, "POST", "/v1/jobs/recommend", {"user_id": 3}, {**theirs, "X-Request-Id": job})
    assert reused.status_code == 422 and job not in reused.text.replace(f'"requestId":"{job}"', "")


@pytest.mark.parametrize("path, limit, extra", [
    ("/v1/graphs/classify", LIMITS.graphs, {}),
    ("/v1/chat/completions", LIMITS.llm, {}),
    ("/v2/models/classify/infer", LIMITS.v2, {}),
    ("/v1/jobs/classify", LIMITS.jobs, {}),
])
def test_a_body_over_its_familys_limit_is_413(platform, path, limit, extra):
    body = b'{"image": "' + b"A" * limit + b'"}'
    response = httpx.post(f"{platform.base_url}{path}", content=body, timeout=60,
                          headers={**platform.headers, "Content-Type": "application/json", **extra})
    assert response.status_code == 413
    # Declared too large: refused before the body is read (only its first byte is ever sent).
    host, port = platform.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {platform.api_key}\r\n"
                           f"Content-Type: application/json\r\nContent-Length: {limit + 1}\r\n\r\n{{".encode())
        assert connection.recv(1024).startswith(b"HTTP/1.1 413")


def test_a_body_just_under_the_graphs_limit_is_served(client):
    """~15.8 MB of JSON (a 11.8 MB PNG): far over gRPC's default 4 MiB message between replicas."""
    pixels = np.random.default_rng(0).integers(0, 255, (1985, 1985, 3), dtype=np.uint8)
    encoded = io.BytesIO()
    Image.fromarray(pixels).save(encoded, format="PNG", compress_level=0)
    body = {"image": base64.b64encode(encoded.getvalue()).decode()}
    size = len(base64.b64encode(encoded.getvalue())) + 14
    assert 4 * 2**20 < LIMITS.graphs - 1024 * 1024 < size < LIMITS.graphs
    response = client.post("/v1/graphs/classify", json=body)
    assert response.status_code == 200 and response.json()["label"]


def test_security_headers_and_no_cors_by_default(client):
    response = client.post("/v1/graphs/classify", json={"image": IMAGE}, headers={"Origin": "https://evil.example"})
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "access-control-allow-origin" not in response.headers


# The probe's way around the gate: a path routing reads one way and a normalizing client (the job replay's)
# another. (method, path) of each guarded family; every variant of each is refused, for a key of every scope.
GUARDED = [("POST", "/v1/chat/completions"), ("POST", "/v1/inference"), ("POST", "/v1/graphs/recommend"),
           ("POST", "/v2/models/classify/infer"), ("GET", "/v1/jobs/dead-letters"),
           ("POST", "/v1/jobs/dead-letters/x/requeue"), ("GET", "/v1/graphs/classify/stats")]
UNNORMALIZED = [lambda p: "/x/.." + p, lambda p: p.replace("/", "//", 2), lambda p: "/x/%2e%2e" + p,
                lambda p: "/x/%2E%2E" + p, lambda p: p.replace("/", "%2f", 2).replace("%2f", "/", 1),
                lambda p: "/." + p]


def raw_request(platform, method: str, path: str, key: str, prefer_async: bool) -> tuple[int, dict]:
    """The path sent exactly as written (httpx would normalize it first, as the replay's client did)."""
    connection = http.client.HTTPConnection(*platform.base_url.removeprefix("http://").split(":"), timeout=30)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json",
               **({"Prefer": "respond-async"} if prefer_async else {})}
    connection.request(method, path, body=b'{"user_id": 1}' if method == "POST" else None, headers=headers)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, json.loads(body) if body.startswith(b"{") else {}


def test_no_path_variant_gets_past_the_gate_with_any_scope(platform):
    settings = PlatformSettings()
    store = open_key_store(settings.key_store, settings.keys_file, settings.redis_url)
    keys = []
    for scope in ("graphs", "llm", "v2", "jobs"):
        key, record = new_key(f"paths-{scope}", "normal", frozenset({scope}))
        store.put(record)
        keys.append(key)
    eventually(lambda: httpx.get(f"{platform.base_url}/", headers={"X-API-Key": keys[-1]}).status_code == 200, 10,
               0.2, "the ingress seeing the new keys")
    for key in [*keys, platform.api_key]:  # and the admin's, which has every scope
        for method, path in GUARDED:
            for variant in UNNORMALIZED:
                for prefer_async in (False, True):
                    status, body = raw_request(platform, method, variant(path), key, prefer_async)
                    assert status == 400 and body.get("title", body.get("error")), (variant(path), status, body)
            # Another case routes nowhere (routing is case-sensitive), and is never made a job.
            status, _ = raw_request(platform, method, path.upper(), key, prefer_async=True)
            assert status == 404, (path.upper(), status)


def test_two_credentials_are_refused(platform):
    for headers in ([("Authorization", f"Bearer {platform.api_key}")] * 2, [("X-API-Key", platform.api_key)] * 2,
                    [("Authorization", f"Bearer {platform.api_key}"), ("X-API-Key", platform.api_key)]):
        response = httpx.get(f"{platform.base_url}/v1/models", headers=httpx.Headers(headers))
        assert response.status_code == 401 and "once" in response.json()["detail"]
