"""A graph route's body: JSON, or the image itself where the graph declares raw_body."""

import asyncio

import pytest
from starlette.requests import Request

from serve_app.common.errors import MalformedJson, UnsupportedMediaType, ValidationFailed
from serve_app.http.graph_body import graph_body


def request(body: bytes, content_type: str) -> Request:
    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/v1/graphs/g", "headers": [(b"content-type", content_type.encode())]}
    return Request(scope, receive)


def parse(body: bytes, content_type: str, raw_field: str | None = "image"):
    return asyncio.run(graph_body(request(body, content_type), raw_field))


def test_an_image_fills_the_raw_field_untouched():
    assert parse(b"\x89PNG\r\n", "image/png") == {"image": b"\x89PNG\r\n"}
    assert parse(b"\xff\xd8", "application/octet-stream; charset=binary") == {"image": b"\xff\xd8"}


def test_json_is_parsed_whatever_the_graph_takes():
    assert parse(b'{"image": "aGk="}', "application/json; charset=utf-8") == {"image": "aGk="}
    assert parse(b'{"user_id": 1}', "application/json", raw_field=None) == {"user_id": 1}


@pytest.mark.parametrize("body, content_type, raw_field, error", [
    (b"\x89PNG", "image/png", None, UnsupportedMediaType),  # the graph declares no raw_body
    (b"a=1", "application/x-www-form-urlencoded", "image", UnsupportedMediaType),
    (b"{", "application/json", "image", MalformedJson),
    (b"[1]", "application/json", "image", ValidationFailed),
])
def test_what_the_graph_cannot_take_is_refused(body, content_type, raw_field, error):
    with pytest.raises(error):
        parse(body, content_type, raw_field)
