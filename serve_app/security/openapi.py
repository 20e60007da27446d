"""The gate in the OpenAPI document: the two ways to send a key, which routes need one, and the answers
the gate (and the error handlers behind it) may give each route, with the content type each comes in."""

from fastapi import FastAPI

from serve_app.http.problems import Problem
from serve_app.security.families import OPEN, route_family
from serve_app.v2.protocol import ErrorResponse

_REF = "#/components/schemas/{model}"
_SECURITY = [{"bearer": []}, {"apiKey": []}]
_SCHEMES = {"bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <API key>"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}
_EVERY = {"400": "a path not sent normalized (invalid_path), an invalid X-Request-Id, or a client mistake the route "
                 "names",
          "431": "request headers over the limit"}
_KEYED = {"401": "no API key, two of them, or a malformed, unknown or revoked one (WWW-Authenticate: Bearer)",
          "403": "the API key lacks the scope this route needs",
          "429": "over the key's rate limit, or a model's concurrency limit; see Retry-After and RateLimit",
          "503": "a model or a store is unavailable or full, the route is overloaded, or the server is draining; "
                 "retry after Retry-After"}
_BODY = {"408": "the body did not arrive within the body deadline",
         "413": "the body (or an image's pixels, an inflated body, or a job's body) is over the route's limit",
         "415": "the body is not sent as the route's content type",
         "422": "the body does not fit the route's schema (each bad field named)"}
_PATH_PARAMETER = {"404": "no such model, graph or job"}


def _answers(path: str, method: str, family: str) -> dict[str, str]:
    answers = dict(_EVERY)
    if family not in OPEN:
        answers |= _KEYED
    if method in ("post", "put", "patch"):
        answers |= _BODY
    if "{" in path or family in ("llm", "v2", "jobs"):
        answers |= _PATH_PARAMETER
    return answers


def document_security(app: FastAPI) -> None:
    """Add the security schemes and the gate's answers to `app`'s OpenAPI document."""
    build = app.openapi

    def openapi() -> dict:
        schema = build()
        components = schema.setdefault("components", {})
        components["securitySchemes"] = _SCHEMES
        schemas = components.setdefault("schemas", {})
        schemas["ErrorResponse"] = ErrorResponse.model_json_schema()
        schemas["Problem"] = Problem.model_json_schema()
        for path, operations in schema["paths"].items():
            family = route_family(path)
            body = ({"application/json": {"schema": {"$ref": _REF.format(model="ErrorResponse")}}} if family == "v2"
                    else {"application/problem+json": {"schema": {"$ref": _REF.format(model="Problem")}}})
            for method, operation in operations.items():
                operation["security"] = [] if family in OPEN else _SECURITY
                responses = operation.setdefault("responses", {})
                answers = _answers(path, method, family)
                if "422" in responses:  # FastAPI's HTTPValidationError (application/json) is not what is sent
                    answers["422"] = _BODY["422"]
                for status, why in answers.items():
                    if status not in responses or status == "422":
                        responses[status] = {"description": why, "content": body}
        return schema

    app.openapi = openapi
