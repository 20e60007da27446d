"""Client mistakes on the LLM routes are refused by the request models, so they answer 400 (OpenAI) or 422
(S1's /infer) naming the field, never 500: lone surrogates, empty or too many stop strings, and more tokens
than a request may generate. Without Ray: the models directly, and the routes on a bare FastAPI app."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from serve_app.common import input_limits as limits_module
from serve_app.common.input_limits import InputLimits
from serve_app.http.problems import install_problem_handlers
from serve_app.llm.infer_api import InferRequest
from serve_app.llm.infer_api import router as s1_router
from serve_app.llm.openai_api.protocol import ChatCompletionRequest, CompletionRequest, EmbeddingRequest
from serve_app.llm.openai_api.router import router as openai_router

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
COMPLETION = {"model": "m", "prompt": "hi"}


def _errors(model, body: dict) -> list[tuple]:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(body)
    return [(".".join(map(str, issue["loc"])), issue["msg"]) for issue in refused.value.errors()]


@pytest.mark.parametrize("model, body, field", [
    (ChatCompletionRequest, {**CHAT, "messages": [{"role": "user", "content": "\ud800"}]}, "messages.0.content"),
    (ChatCompletionRequest, {**CHAT, "stop": ["\ud800"]}, "stop"),
    (ChatCompletionRequest, {**CHAT, "model": "m\udfff"}, "model"),
    (CompletionRequest, {**COMPLETION, "prompt": "\ud800"}, "prompt"),
    (CompletionRequest, {**COMPLETION, "prompt": ["ok", "\ud800"]}, "prompt"),
    (EmbeddingRequest, {"model": "e", "input": ["ok", "\udc00"]}, "input"),
    (InferRequest, {"query": "\ud800"}, "query"),
])
def test_text_that_is_not_valid_unicode_is_refused_naming_the_field(model, body, field):
    assert [name for name, _ in _errors(model, body)] == [field]


@pytest.mark.parametrize("stop", ["", [""], ["a", "b", "c", "d", "e"], ["x" * 65]])
def test_bad_stop_lists_are_refused(stop):
    for model, body in ((ChatCompletionRequest, CHAT), (CompletionRequest, COMPLETION)):
        assert [name for name, _ in _errors(model, {**body, "stop": stop})] == ["stop"]


@pytest.mark.parametrize("model, body, fields", [
    (CompletionRequest, {**COMPLETION, "n": 8, "max_tokens": 513}, "n x max_tokens"),
    (ChatCompletionRequest, {**CHAT, "n": 2, "max_tokens": 2049}, "n x max_tokens"),
    (ChatCompletionRequest, {**CHAT, "n": 2, "max_completion_tokens": 4000, "max_tokens": 1},
     "n x max_completion_tokens"),
    (InferRequest, {"query": "hi", "num_return_sequences": 2, "max_length": 4096}, "num_return_sequences x max_length"),
])
def test_more_tokens_than_a_request_may_generate_are_refused(model, body, fields):
    [(_, message)] = _errors(model, body)
    assert message.startswith(f"Value error, {fields} is ") and "at most 4096" in message


def test_requests_within_the_limits_pass_and_the_limits_are_live(monkeypatch):
    body = {**CHAT, "n": 8, "max_tokens": 512, "stop": ["\n", "###"]}
    assert ChatCompletionRequest.model_validate(body).sampling().stop == ("\n", "###")
    assert InferRequest.model_validate({"query": "hi", "num_return_sequences": 8, "max_length": 512})
    monkeypatch.setattr(limits_module, "_current", InputLimits(completion_tokens=1000))
    assert _errors(ChatCompletionRequest, body)


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(openai_router)
    app.include_router(s1_router)
    return TestClient(app, raise_server_exceptions=False)


# Raw JSON text, so the lone surrogate is sent as the escape a client would send.
@pytest.mark.parametrize("path, body, status, field", [
    ("/v1/chat/completions", '{"model":"m","messages":[{"role":"user","content":"\\ud800"}]}', 400,
     "messages.0.content"),
    ("/v1/completions", '{"model":"m","prompt":"hi","stop":[""]}', 400, "stop"),
    ("/v1/completions", '{"model":"m","prompt":"hi","n":8,"max_tokens":4096}', 400, "body"),
    ("/v1/chat/completions", '{"model":"m","messages":[{"role":"user","content":"hi"}],'
     '"tools":[{"type":"function","function":{"name":"f"}}]}', 400, "tools"),
    ("/v1/chat/completions", '{"model":"m","messages":[{"role":"user","content":"hi"}],'
     '"response_format":{"type":"json_schema","json_schema":{"name":"V","schema":"nope"}}}', 400,
     "response_format.json_schema.schema"),
    ("/infer", '{"query":"\\ud800 hi"}', 422, "query"),
    ("/infer", '{"query":"hi","num_return_sequences":8,"max_length":4096}', 422, "body"),
])
def test_the_routes_answer_a_problem_not_a_500(client, path, body, status, field):
    response = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status
    assert [error["field"] for error in response.json()["errors"]] == [field]
