"""Route families: what a path needs (its scopes) and what its body may weigh. Health and the API
document stay open, so probes and browsers need no key."""

from typing import Literal

Family = Literal["health", "docs", "graphs", "llm", "v2", "jobs", "admin", "other"]
OPEN: frozenset[str] = frozenset({"health", "docs"})
_HEALTH = frozenset({"/health", "/health/live", "/health/ready", "/v2/health/live", "/v2/health/ready"})
_DOCS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
_LLM = ("/v1/chat/", "/v1/completions", "/v1/embeddings", "/v1/models", "/infer")


def route_family(path: str) -> Family:
    if path in _HEALTH:
        return "health"
    if path in _DOCS:
        return "docs"
    if path.startswith("/v1/jobs/dead-letters") or (path.startswith("/v1/graphs/") and path.endswith("/stats")):
        return "admin"
    if path.startswith("/v1/graphs/"):
        return "graphs"
    if path.startswith(("/v1/jobs/", "/v1/inference")):
        return "jobs"
    if path.startswith(_LLM):
        return "llm"
    if path == "/v2" or path.startswith("/v2/"):
        return "v2"
    return "other"


def required_scopes(family: Family, method: str, path: str, respond_async: bool) -> frozenset[str]:
    """The scopes a key needs for this request; none beyond a valid key for `other` (the status route)."""
    if family == "other":
        return frozenset()
    if family == "jobs" and method == "POST":  # a job runs a graph or the LLM: it needs that scope too
        return frozenset({"jobs", "llm" if path == "/v1/inference" else "graphs"})
    return frozenset({family, "jobs"}) if respond_async else frozenset({family})


def body_family(family: Family) -> str:
    """Which body limit applies (serve_app/common/input_limits.py BodyLimits)."""
    return family if family in ("graphs", "llm", "v2", "jobs") else "other"
