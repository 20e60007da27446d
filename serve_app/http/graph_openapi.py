"""Declared graphs in the OpenAPI document: each is its own path, `POST /v1/graphs/<name>`, with its
declared input as the request body, so generated clients and schema fuzzers send real bodies."""

from fastapi import FastAPI

from graphs.runner import GraphRunner
from serve_app.http.graph_body import RAW_MEDIA_TYPES
from serve_app.http.problems import Problem

_REF = "#/components/schemas/{model}"
# What a graph run may answer besides its output (problem+json, see problems.py and the errors module).
_PROBLEMS = {
    "400": "malformed JSON, or an image that cannot be decoded",
    "404": "no such graph",
    "409": "the same run (the graph's dedupe key) is already going",
    "415": "the body is not sent as application/json (or, where the graph takes one, as an image)",
    "422": "the body does not fit the declared input (each bad field named), or a bad X-Request-Timeout",
    "429": "a model is at its concurrency limit; retry after Retry-After",
    "503": "a model is unavailable, failing (open circuit) or out of memory",
    "504": "the graph's deadline or a node's timeout passed",
}


def _graph_path(name: str, runner: GraphRunner, components: dict) -> dict:
    model = runner.input_model(name)
    body = {"type": "object", "description": "any JSON object: the graph declares no input"}
    if model is not None:
        body = model.model_json_schema(ref_template=_REF)
        components.update(body.pop("$defs", {}))
    content = {"application/json": {"schema": body}}
    if (raw_field := runner.spec(name).raw_body) is not None:
        raw = {"type": "string", "format": "binary", "description": f"the {raw_field!r} field, sent as it is"}
        content.update({media_type: {"schema": raw} for media_type in RAW_MEDIA_TYPES})
    problem = {"application/problem+json": {"schema": {"$ref": _REF.format(model="Problem")}}}
    return {"post": {
        "tags": ["graphs"],
        "summary": f"Run the declared graph {name!r}",
        "operationId": f"run_graph_{name}",
        "parameters": [{"name": "X-Request-Timeout", "in": "header", "required": False,
                        "description": "a deadline in seconds for the whole run; it can only shorten the graph's",
                        "schema": {"type": "number", "exclusiveMinimum": 0}}],
        "requestBody": {"required": True, "content": content},
        "responses": {"200": {"description": "the graph's declared output",
                              "content": {"application/json": {"schema": {}}}},
                      **{status: {"description": why, "content": problem} for status, why in _PROBLEMS.items()}},
    }}


def document_graphs(app: FastAPI, runner: GraphRunner) -> None:
    """Add every graph of `runner` to `app`'s OpenAPI document."""
    build = app.openapi

    def openapi() -> dict:
        schema = build()  # FastAPI builds it once and keeps it; the graphs' paths go into that copy
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = Problem.model_json_schema(ref_template=_REF)
        for name in sorted(runner.specs):
            schema["paths"][f"/v1/graphs/{name}"] = _graph_path(name, runner, components)
        return schema

    app.openapi = openapi
