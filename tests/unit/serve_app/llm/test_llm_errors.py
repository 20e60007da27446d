"""How engine failures become S1's statuses and messages, and what the ingress does with them."""

import pytest

from deployments.llm_engine import engine_error
from serve_app.common.errors import (
    ConcurrencyLimitReached,
    InferenceFailed,
    InferenceTimeout,
    InvalidRequest,
    OutOfMemory,
)
from serve_app.common.generation import GenerationRequest, SamplingOptions
from serve_app.llm.service import LLMService


class OutOfMemoryError(RuntimeError):
    """Stands in for torch.OutOfMemoryError, matched by name."""


@pytest.mark.parametrize("error, kind, status, detail", [
    (TimeoutError(), InferenceTimeout, 503, "LLM 추론 타임아웃 (60초)"),
    (MemoryError(), OutOfMemory, 503, "LLM 추론 중 메모리 부족"),
    (OutOfMemoryError("CUDA out of memory"), OutOfMemory, 503, "LLM 추론 중 메모리 부족"),
    (RuntimeError("engine core died"), InferenceFailed, 503, "engine core died"),
    (ValueError("top_k must be -1"), InvalidRequest, 400, "top_k must be -1"),
    (ConcurrencyLimitReached(), ConcurrencyLimitReached, 429, "동시 추론 요청 한도 초과"),
])
def test_engine_errors_map_to_s1_statuses_and_messages(error, kind, status, detail):
    problem = engine_error(error, timeout_s=60)
    assert isinstance(problem, kind)
    assert (problem.status, problem.detail) == (status, detail)


def _service(**settings) -> LLMService:
    from serve_app.common.settings import LLMSettings
    from serve_app.llm.semantic_cache import SemanticCacheConfig

    service = LLMService.__new__(LLMService)  # no handles or metrics: only the pure parts are under test
    service.configure(LLMSettings(**settings), SemanticCacheConfig())
    return service


def test_fallback_replaces_server_failures_but_never_client_mistakes():
    request = GenerationRequest(prompt="hi", sampling=SamplingOptions(n=2))
    service = _service(llm_fallback_response="later, please")
    completion = service._fallback_or_raise(InferenceTimeout.after(1), request)
    assert (completion.texts, completion.source) == (["later, please"] * 2, "fallback")
    with pytest.raises(InvalidRequest):
        service._fallback_or_raise(InvalidRequest("too long"), request)
    with pytest.raises(InferenceTimeout):
        _service()._fallback_or_raise(InferenceTimeout.after(1), request)


def test_preparation_masks_collapses_and_truncates_every_message():
    service = _service(llm_input_max_length=40)
    request = GenerationRequest(messages=[{"role": "system", "content": "be  brief"},
                                          {"role": "user", "content": "call   010-1234-5678 " + "x" * 100}])
    prepared = service.prepare(request)
    assert prepared.messages[0].content == "be brief"
    assert prepared.messages[1].content.startswith("call [PHONE] x") and len(prepared.messages[1].content) == 40


def test_a_combination_vllm_refuses_is_the_clients_mistake():
    """Greedy sampling with n > 1 is refused by vLLM's SamplingParams (a VLLMValidationError, not a
    ValueError): it answers 400, not 500."""
    from deployments.llm_engine import sampling_params
    from serve_app.common.errors import InvalidRequest
    from serve_app.common.generation import SamplingOptions

    with pytest.raises(InvalidRequest, match="greedy"):
        sampling_params(SamplingOptions(n=6, temperature=0.0, max_tokens=8), prompt_tokens=4, max_model_len=256)
