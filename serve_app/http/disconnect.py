"""A client that goes away cancels its request's work: the route, the graph nodes and the handle calls under
it (Serve cancels a deployment call whose caller was cancelled), the LLM generation with them. Serve's own
proxy does this for every request it proxies; behind HAProxy each Ingress replica serves HTTP itself
(direct ingress), where nothing listens for the client's leaving unless the response streams."""

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class CancelOnDisconnect:
    """ASGI middleware. It reads the client's messages for the app, at most one ahead of it (so a large
    upload keeps its flow control); the message after the body can only be the disconnect, which cancels
    the app unless its answer was already sent whole."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        messages: asyncio.Queue[Message] = asyncio.Queue(maxsize=1)
        gone = answered = False
        request = asyncio.current_task()

        async def watch() -> None:
            nonlocal gone
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    gone = True
                    if messages.empty():  # the app may be waiting for it
                        messages.put_nowait(message)
                    if not answered:
                        request.cancel()
                    return
                await messages.put(message)  # once the app took the one before

        async def app_receive() -> Message:
            if gone and messages.empty():
                return {"type": "http.disconnect"}
            return await messages.get()

        async def app_send(message: Message) -> None:
            nonlocal answered
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                answered = True

        watcher = asyncio.create_task(watch())
        try:
            await self.app(scope, app_receive, app_send)
        except asyncio.CancelledError:
            if not (gone and not answered):
                raise
            request.uncancel()  # cancelled here, for the client's leaving: nobody is left to answer
        finally:
            watcher.cancel()
