"""CancelOnDisconnect with the client's side played by hand (a disconnect is the fault injected): the work
of a request whose client left is cancelled, an answered one is not, and a body arrives whole and in order."""

import asyncio

from serve_app.http.disconnect import CancelOnDisconnect


def client(parts: list[bytes], leave_after_s: float | None):
    """An ASGI receive: the body in `parts`, then (after `leave_after_s`, or never) the disconnect."""
    messages = [{"type": "http.request", "body": part, "more_body": i < len(parts) - 1} for i, part in enumerate(parts)]

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600 if leave_after_s is None else leave_after_s)
        return {"type": "http.disconnect"}
    return receive


def serve(app, receive) -> list:
    """What the app sent; it returns (within 5 s) whether or not it was cancelled."""
    sent = []

    async def send(message):
        sent.append(message)

    asyncio.run(asyncio.wait_for(CancelOnDisconnect(app)({"type": "http"}, receive, send), 5))
    return sent


def test_a_client_that_leaves_cancels_the_work():
    state = {}

    async def slow(scope, receive, send):
        state["body"] = (await receive())["body"]
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            state["cancelled"] = True
            raise

    sent = serve(slow, client([b"x"], leave_after_s=0.05))
    assert state == {"body": b"x", "cancelled": True} and sent == []


def test_an_answered_request_is_not_cancelled_and_the_body_comes_whole():
    state = {}

    async def echo(scope, receive, send):
        chunks = []
        while True:
            message = await receive()
            chunks.append(message["body"])
            if not message["more_body"]:
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"".join(chunks)})
        await asyncio.sleep(0.1)  # the client leaves now: the answer was sent whole
        state["finished"] = True

    sent = serve(echo, client([b"a", b"b", b"c"], leave_after_s=0.01))
    assert sent[-1]["body"] == b"abc" and state == {"finished": True}
