"""What LLMService asks the semantic cache: the prompt or a chat's last message by meaning, without case or
punctuation; the earlier messages and the numbers exactly. Without Ray: fake handles, one vector for every text,
so only the key tells requests apart."""

import asyncio

from serve_app.common.generation import Completion, GenerationRequest, SamplingOptions, Usage
from serve_app.common.settings import LLMSettings
from serve_app.llm.semantic_cache import SemanticCacheConfig, cache_text, numbers_in
from serve_app.llm.service import LLMService
from tests.unit.fakes import FakeHandle

GREEDY = SamplingOptions(temperature=0, max_tokens=8)


def _service(embedded: list[str]) -> LLMService:
    async def embed(texts):
        embedded.extend(texts)
        return {"embeddings": [[1.0, 0.0]] * len(texts), "prompt_tokens": len(texts)}

    async def complete(request):
        return Completion(texts=["answer"], finish_reasons=["stop"], usage=Usage(prompt_tokens=1, completion_tokens=1))

    service = LLMService({"LLMServer": FakeHandle(complete=complete)}, FakeHandle(embed=embed))
    service.configure(LLMSettings(), SemanticCacheConfig(enabled=True))
    return service


def _chat(*contents: str) -> GenerationRequest:
    roles = ["system"] * (len(contents) - 1) + ["user"]
    return GenerationRequest(messages=[{"role": role, "content": content} for role, content in zip(roles, contents)],
                             sampling=GREEDY)


def test_a_chat_is_compared_by_its_last_message_and_matched_on_the_rest():
    embedded = []
    service = _service(embedded)

    def source(request: GenerationRequest) -> str:
        return asyncio.run(service.complete(request, "LLMServer")).source

    assert source(_chat("한국어로 답하세요.", "서울 날씨 어때요?")) == "engine"
    assert source(_chat("한국어로 답하세요.", "서울 날씨 어때요")) == "cache"
    assert source(_chat("영어로 답하세요.", "서울 날씨 어때요?")) == "engine"  # another system prompt
    assert source(_chat("한국어로 답하세요.", "내일 7시에 4명 예약")) == "engine"
    assert source(_chat("한국어로 답하세요.", "내일 8시에 4명 예약")) == "engine"  # other numbers
    assert source(GenerationRequest(prompt="서울 날씨 어때요?", sampling=GREEDY)) == "engine"  # not a chat
    assert embedded[:2] == ["서울 날씨 어때요"] * 2  # the last message only, as cache_text gives it


def test_cache_text_drops_case_sentence_punctuation_and_spacing_runs():
    assert cache_text("  What's the Weather in SEOUL?? ") == "what's the weather in seoul"
    assert cache_text("서울 날씨 어때요?!") == cache_text("서울  날씨, 어때요") == "서울 날씨 어때요"
    assert cache_text("3+4") != cache_text("3*4")  # an operator is part of the question


def test_numbers_in_are_every_digit_run_in_order():
    assert numbers_in("내일 저녁 7시에 4명") == ("7", "4")
    assert numbers_in("4명 7시") != numbers_in("7명 4시")
    assert numbers_in("3.5 kg") != numbers_in("35 kg")
    assert numbers_in("서울 날씨") == ()
