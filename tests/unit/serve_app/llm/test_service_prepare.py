"""LLMService masks the request's text off the event loop: a body of many long messages costs a worker
thread its time, not every other request on the ingress. Without Ray: a fake LLMServer handle."""

import asyncio
import threading

from serve_app.common.generation import Completion, GenerationRequest, StreamEvent, Usage
from serve_app.common.settings import LLMSettings
from serve_app.llm.semantic_cache import SemanticCacheConfig
from serve_app.llm.service import LLMService
from tests.unit.fakes import FakeHandle

COMPLETION = Completion(texts=["ok"], finish_reasons=["stop"], usage=Usage(prompt_tokens=1, completion_tokens=1))


class _Stream:
    """What `handle.options(stream=True).stream.remote(...)` gives: an async iterator with cancel()."""

    def __init__(self, events):
        self._events = iter(events)

    def __aiter__(self):
        return self

    async def __anext__(self):
        try:
            return next(self._events)
        except StopIteration:
            raise StopAsyncIteration from None

    def cancel(self):
        pass


def _service(seen: list[GenerationRequest]) -> LLMService:
    async def complete(request):
        seen.append(request)
        return COMPLETION

    service = LLMService({"LLMServer": FakeHandle(complete=complete)}, FakeHandle())
    service._streams["LLMServer"] = FakeHandle(stream=lambda request: seen.append(request) or _Stream([StreamEvent()]))
    service.configure(LLMSettings(llm_input_max_length=20), SemanticCacheConfig())
    return service


def test_complete_and_stream_prepare_the_request_in_a_worker_thread(monkeypatch):
    seen, threads = [], []
    service = _service(seen)
    prepare = service.prepare
    monkeypatch.setattr(service, "prepare", lambda request: threads.append(threading.get_ident()) or prepare(request))
    request = GenerationRequest(messages=[{"role": "user", "content": "call 010-1234-5678 " + "x" * 100}])

    async def both():
        await service.complete(request, "LLMServer")
        await service.stream(request, "LLMServer")
        return threading.get_ident()

    loop_thread = asyncio.run(both())
    assert len(threads) == 2 and loop_thread not in threads
    assert [r.messages[0].content for r in seen] == ["call [PHONE] xxxxxxx"] * 2
