"""A request body read whole before any route sees it: within a size limit (413) and a deadline (408),
so a slow or endless upload holds nothing for long, and with its JSON nesting bounded (400)."""

import asyncio
import re

from starlette.types import Message, Receive

from serve_app.common.errors import MalformedJson, PayloadTooLarge, RequestTimeout

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


class ClientGone(Exception):
    """The client disconnected before its body arrived: nobody is left to answer."""


async def read_body(receive: Receive, limit: int, timeout_s: float, declared_length: str | None = None) -> bytes:
    """The whole body; a Content-Length over the limit is refused before a byte is read."""
    too_large = PayloadTooLarge(f"the request body is over this route's limit of {limit} bytes")
    if declared_length is not None and declared_length.isascii() and declared_length.isdigit() \
            and int(declared_length) > limit:
        raise too_large
    chunks, size = [], 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
        except TimeoutError:
            raise RequestTimeout(f"the request body did not arrive within {timeout_s:g} s") from None
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the buffered body, then the client's later messages (disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


def check_json_depth(body: bytes, limit: int) -> None:
    """Refuse JSON nested deeper than `limit` (counting brackets outside strings); cheap when the body
    has fewer brackets than the limit, as almost every request does."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return
    depth = 0
    for bracket in _BRACKET.finditer(_STRING.sub(b"", body)):
        depth += 1 if bracket[0] in b"[{" else -1
        if depth > limit:
            raise MalformedJson(f"request body nests deeper than {limit} levels")
