"""The gate's body reading: size limit before and while reading, the deadline for slow clients, the
replay to the app, and JSON nesting (cheap for ordinary bodies, refused past the limit)."""

import asyncio
import json
import time

import pytest

from serve_app.common.errors import MalformedJson, PayloadTooLarge, RequestTimeout
from serve_app.security.body import ClientGone, check_json_depth, read_body, replaying


def receiver(*chunks: bytes, delay_s: float = 0.0, then_disconnect: bool = False):
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    if then_disconnect:
        messages[-1]["more_body"] = True
        messages.append({"type": "http.disconnect"})

    async def receive():
        await asyncio.sleep(delay_s)
        return messages.pop(0) if messages else {"type": "http.disconnect"}
    return receive


def test_reads_and_replays_the_whole_body():
    async def run():
        receive = receiver(b"ab", b"cd")
        body = await read_body(receive, 4, 1)
        replay = replaying(body, receive)
        return body, await replay(), await replay()
    body, first, later = asyncio.run(run())
    assert body == b"abcd" and first == {"type": "http.request", "body": b"abcd", "more_body": False}
    assert later == {"type": "http.disconnect"}


def test_size_limit_from_the_header_and_while_reading():
    with pytest.raises(PayloadTooLarge):  # refused before a byte is read
        asyncio.run(read_body(receiver(delay_s=10), 4, 1, declared_length="5"))
    with pytest.raises(PayloadTooLarge):
        asyncio.run(read_body(receiver(b"abc", b"de"), 4, 1, declared_length="²"))


def test_a_trickling_client_is_cut_at_the_deadline():
    started = time.monotonic()
    with pytest.raises(RequestTimeout):
        asyncio.run(read_body(receiver(*[b"x"] * 100, delay_s=0.05), 1000, 0.3))
    assert time.monotonic() - started < 1


def test_a_client_gone_mid_body():
    with pytest.raises(ClientGone):
        asyncio.run(read_body(receiver(b"ab", then_disconnect=True), 100, 1))


def test_json_depth():
    check_json_depth(json.dumps({"a": [[1, 2], {"b": "[[[[[[[[[["}]}).encode(), 4)  # brackets in strings don't count
    check_json_depth(b"[" * 64 + b"]" * 64, 64)
    with pytest.raises(MalformedJson):
        check_json_depth(b"[" * 65 + b"]" * 65, 64)
    deep = b"[" * 100_000 + b"]" * 100_000
    started = time.process_time()  # CPU time: a starved machine must not fail this
    with pytest.raises(MalformedJson):
        check_json_depth(deep, 64)
    assert time.process_time() - started < 0.5
    wide = json.dumps([[i, i] for i in range(100_000)]).encode()  # many brackets, shallow
    check_json_depth(wide, 64)
