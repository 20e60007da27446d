"""Route families: what a path needs (its scopes) and what its body may weigh. Health and the API
document stay open, so probes and browsers need no key."""

from typing import Literal

from serve_app.common.errors import InvalidPath

Family = Literal["health", "docs", "graphs", "llm", "v2", "jobs", "admin", "other"]
OPEN: frozenset[str] = frozenset({"health", "docs"})
_HEALTH = frozenset({"/health", "/health/live", "/health/ready", "/v2/health/live", "/v2/health/ready"})
_DOCS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
_LLM = ("/v1/chat/", "/v1/completions", "/v1/embeddings", "/v1/models", "/infer")


# Percent-encoded dot, slash, backslash and NUL: a client, proxy or replay that decodes them sees another path.
_ENCODED_SEPARATORS = ("%2e", "%2f", "%5c", "%00")


def check_path(path: str, raw_path: bytes | None = None) -> None:
    """Refuse (400) a path that routing and a normalizing client would read differently: `.`/`..` or empty
    segments, a backslash, or an encoded separator. Every decision (family, scopes, routing) is then made
    on one path, the one sent."""
    raw = (raw_path or path.encode()).split(b"?")[0].decode("latin-1").lower()
    segments = path.split("/")[1:]
    dotted = any(segment in (".", "..") for segment in segments)
    empty = "" in segments[:-1]  # a trailing slash is left to routing (a redirect)
    if not path.startswith("/") or dotted or empty or "\\" in path \
            or any(code in raw for code in _ENCODED_SEPARATORS):
        raise InvalidPath("the request path must be sent normalized: no `.`, `..` or empty segments, no "
                          "backslash, no percent-encoded `.`, `/` or `\\`")


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
