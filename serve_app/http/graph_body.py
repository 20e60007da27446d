"""A graph route's body: a JSON object, or, where the graph declares `raw_body`, the bytes of an image sent
as they are (`curl --data-binary @cat.png -H 'Content-Type: image/png'`), one field of its input."""

import json
from typing import Any

from fastapi import Request

from serve_app.common.errors import MalformedJson, UnsupportedMediaType, ValidationFailed
from serve_app.http.problems import is_json

RAW_MEDIA_TYPES = ("image/png", "image/jpeg", "application/octet-stream")


async def graph_body(request: Request, raw_field: str | None) -> dict[str, Any]:
    """The body as the graph's input fields; 415 for a media type the graph does not take, 400 for
    malformed JSON, 422 for JSON that is not an object. The gate has already bounded its size."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    body = await request.body()
    if raw_field is not None and media_type in RAW_MEDIA_TYPES:
        return {raw_field: body}
    if not is_json(content_type):
        accepted = "application/json" + (f" or one of {', '.join(RAW_MEDIA_TYPES)}" if raw_field else "")
        raise UnsupportedMediaType(f"send the body as {accepted}, not {content_type or 'nothing'!r}")
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        raise MalformedJson("request body is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise ValidationFailed("request body failed validation",
                               errors=[{"field": "body", "message": "must be a JSON object"}])
    return parsed
