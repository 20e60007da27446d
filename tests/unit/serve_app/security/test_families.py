"""Which scopes each route family needs, and which body limit applies."""

import pytest

from serve_app.security.families import body_family, required_scopes, route_family


@pytest.mark.parametrize("path, family", [
    ("/health/live", "health"), ("/health/ready", "health"), ("/health", "health"), ("/v2/health/ready", "health"),
    ("/docs", "docs"), ("/openapi.json", "docs"),
    ("/v1/graphs/classify", "graphs"), ("/v1/graphs/classify/stats", "admin"),
    ("/v1/jobs/dead-letters", "admin"), ("/v1/jobs/dead-letters/x/requeue", "admin"),
    ("/v1/jobs/classify", "jobs"), ("/v1/inference", "jobs"), ("/v1/inference/abc", "jobs"),
    ("/v1/chat/completions", "llm"), ("/v1/completions", "llm"), ("/v1/embeddings", "llm"), ("/v1/models", "llm"),
    ("/infer", "llm"), ("/infer/stream", "llm"),
    ("/v2", "v2"), ("/v2/models/classify/infer", "v2"), ("/v2/models/ranker/ready", "v2"),
    ("/", "other"), ("/v2x", "other"), ("/v1/graphsx", "other"),
])
def test_route_family(path, family):
    assert route_family(path) == family


def test_required_scopes():
    assert required_scopes("graphs", "POST", "/v1/graphs/classify", False) == {"graphs"}
    assert required_scopes("graphs", "POST", "/v1/graphs/classify", True) == {"graphs", "jobs"}
    assert required_scopes("jobs", "POST", "/v1/jobs/classify", False) == {"jobs", "graphs"}
    assert required_scopes("jobs", "POST", "/v1/inference", False) == {"jobs", "llm"}
    assert required_scopes("jobs", "GET", "/v1/jobs/abc", False) == {"jobs"}
    assert required_scopes("admin", "GET", "/v1/jobs/dead-letters", False) == {"admin"}
    assert required_scopes("other", "GET", "/", False) == frozenset()


def test_body_family():
    assert [body_family(f) for f in ("graphs", "llm", "v2", "jobs", "admin", "other")] == \
        ["graphs", "llm", "v2", "jobs", "other", "other"]
