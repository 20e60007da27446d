"""The one place where exceptions become `application/problem+json` responses."""

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from ray.serve.context import _get_serve_request_context
from starlette.exceptions import HTTPException

from serve_app.common.errors import (
    InvalidRequest,
    MalformedJson,
    PlatformError,
    UnsupportedMediaType,
    ValidationFailed,
    as_platform_error,
)
from serve_app.common.input_limits import valid_request_id

logger = logging.getLogger("ray.serve")
# Routes tagged so answer 400 to an invalid body, as OpenAI's API and S0 do; their clients expect it.
OPENAI_TAG = "openai"
S0_TAG = "s0"


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    requestId: str | None = None
    errors: list[dict] | None = None


def current_request_id() -> str | None:
    """Serve's request id: the client's X-Request-Id, or one Serve generated; it follows every handle call."""
    request_id = _get_serve_request_context().request_id
    return request_id if request_id and valid_request_id(request_id) else None


def _problem(status: int, title: str, detail: str, errors: list[dict] | None = None,
             headers: dict[str, str] | None = None) -> JSONResponse:
    problem = Problem(title=title, status=status, detail=detail, requestId=current_request_id(), errors=errors)
    # Overload and unavailability are brief by design (requests finish in seconds): say when to come back.
    headers = {"Retry-After": "1", **(headers or {})} if status in (429, 503) else headers
    return JSONResponse(problem.model_dump(exclude_none=True), status_code=status,
                        media_type="application/problem+json", headers=headers)


def problem_response(error: PlatformError, errors: list[dict] | None = None) -> JSONResponse:
    """The error as problem+json, with its own headers (WWW-Authenticate, Retry-After) and its own field
    errors (a ValidationFailed's) unless `errors` are given."""
    return _problem(error.status, error.title, error.detail, errors or getattr(error, "errors", None),
                    getattr(error, "headers", None))


async def _platform_error(_: Request, error: PlatformError) -> JSONResponse:
    error = as_platform_error(error)
    logger.info("request failed", extra={"problem": error.title, "detail": error.detail})
    return problem_response(error)


def is_json(content_type: str) -> bool:
    """application/json, or a structured syntax suffix (application/problem+json), any parameters."""
    media_type = content_type.split(";")[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    # FastAPI parses a body as JSON only when it says so (curl -d sends a form content type).
    content_type = request.headers.get("content-type", "")
    if request.method == "POST" and not is_json(content_type):
        return problem_response(UnsupportedMediaType(
            f"send the body as JSON with Content-Type: application/json, not {content_type or 'nothing'!r}"))
    issues = error.errors()
    if any(issue["type"] == "json_invalid" for issue in issues):
        return problem_response(MalformedJson("request body is not valid JSON"))
    fields = [{"field": ".".join(str(p) for p in issue["loc"][1:]) or "body", "message": issue["msg"]}
              for issue in issues]
    tags = getattr(request.scope.get("route"), "tags", ())
    if S0_TAG in tags:  # S0: 400 with title validation_failed
        return _problem(400, ValidationFailed.title, "request body failed validation", fields)
    problem = (InvalidRequest if OPENAI_TAG in tags else ValidationFailed)("request body failed validation")
    return problem_response(problem, errors=fields)


async def _http_error(_: Request, error: HTTPException) -> JSONResponse:
    """Routing errors from FastAPI itself (unknown path, wrong method), and a body its JSON parser gave up
    on (nested past Python's recursion limit)."""
    if error.status_code == 400 and str(error.detail).startswith("There was an error parsing the body"):
        return problem_response(MalformedJson("request body is not valid JSON"))
    phrase = HTTPStatus(error.status_code).phrase
    return _problem(error.status_code, phrase.lower().replace(" ", "_"), str(error.detail))


async def _unexpected_error(_: Request, error: Exception) -> JSONResponse:
    # Log the traceback for operators; the client only learns that it failed.
    logger.exception("unhandled error")
    return problem_response(PlatformError("internal error"))


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PlatformError, _platform_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
