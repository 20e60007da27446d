"""Server-sent events as both streaming dialects (OpenAI, S1 /infer/stream) write them."""

import json
from collections.abc import AsyncIterator

from pydantic import BaseModel

from serve_app.common.errors import as_platform_error

DONE = "data: [DONE]\n\n"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# For the OpenAPI document: a streamed answer (stream: true) comes as text/event-stream.
STREAMED = {200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}}


def sse(payload: BaseModel | dict) -> str:
    data = payload.model_dump_json(exclude_none=True) if isinstance(payload, BaseModel) else json.dumps(
        payload, ensure_ascii=False)
    return f"data: {data}\n\n"


def error_event(error: Exception) -> str:
    """A failure after the status line went out travels as an event, the way vLLM's server sends it."""
    problem = as_platform_error(error)
    return sse({"error": {"message": problem.detail, "type": problem.title, "code": problem.status}})


async def sse_stream(payloads: AsyncIterator[BaseModel | dict]) -> AsyncIterator[str]:
    """Each payload as an event; a failure part-way as an error event; `[DONE]` last either way."""
    try:
        async for payload in payloads:
            yield sse(payload)
    except Exception as error:
        yield error_event(error)
    yield DONE
