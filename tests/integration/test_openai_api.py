"""The official `openai` client against the platform, unchanged: chat, completions, streaming, embeddings."""

import math

import httpx
import openai
import pytest

MODEL = "tiny-llama"
PRETRAINED_MODEL = "smollm2-135m-instruct"
EMBEDDING_MODEL = "use-multilingual-v3"


@pytest.fixture(scope="module")
def oai(platform) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{platform.base_url}/v1", api_key=platform.api_key, max_retries=0)


def test_models_lists_both_llms_and_the_embedder(oai):
    assert [model.id for model in oai.models.list()] == [MODEL, PRETRAINED_MODEL, EMBEDDING_MODEL]


def test_the_model_field_picks_the_llm_that_answers(oai):
    question = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]
    answers = {model: oai.chat.completions.create(model=model, messages=question, max_tokens=16, temperature=0)
               for model in (MODEL, PRETRAINED_MODEL)}
    assert all(answer.model == model for model, answer in answers.items())
    # The pretrained model knows; the task model was never taught geography.
    assert "Paris" in answers[PRETRAINED_MODEL].choices[0].message.content
    assert "Paris" not in answers[MODEL].choices[0].message.content


def test_chat_completion_with_real_usage(oai):
    response = oai.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Write a review of Seoul Garden."}],
        max_tokens=24, temperature=0)
    choice = response.choices[0]
    assert choice.message.role == "assistant" and choice.message.content.strip()
    assert choice.finish_reason in {"stop", "length"}
    assert response.usage.prompt_tokens > 5
    assert 0 < response.usage.completion_tokens <= 24
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens


def test_greedy_is_deterministic_and_streaming_matches_it(oai):
    messages = [{"role": "user", "content": "Describe the image."}]
    whole = oai.chat.completions.create(model=MODEL, messages=messages, max_tokens=20, temperature=0)
    chunks = list(oai.chat.completions.create(model=MODEL, messages=messages, max_tokens=20, temperature=0,
                                              stream=True, stream_options={"include_usage": True}))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == whole.choices[0].message.content
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1  # token by token
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_completions_honour_max_tokens_stop_n_and_seed(oai):
    many = oai.completions.create(model=MODEL, prompt="The food", max_tokens=12, n=3, temperature=1.0, seed=7,
                                  extra_body={"ignore_eos": True})
    assert len(many.choices) == 3 and many.usage.completion_tokens == 36
    again = oai.completions.create(model=MODEL, prompt="The food", max_tokens=12, n=3, temperature=1.0, seed=7,
                                   extra_body={"ignore_eos": True})
    assert [c.text for c in again.choices] == [c.text for c in many.choices]
    stopped = oai.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Describe the image."}],
                                          max_tokens=64, temperature=0, stop=["."])
    assert stopped.choices[0].finish_reason == "stop"
    assert stopped.choices[0].message.content.strip() and "." not in stopped.choices[0].message.content


def test_streamed_completion_ends_with_done(platform):
    body = {"model": MODEL, "prompt": "The service", "max_tokens": 8, "temperature": 0, "stream": True}
    with httpx.stream("POST", f"{platform.base_url}/v1/completions", headers=platform.headers, json=body, timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]" and len(events) > 2


def test_embeddings_float_and_base64(oai):
    texts = ["The pasta was delicious", "The pasta tasted delicious", "My train was late"]
    # The client asks for base64 by default and decodes it; both encodings must give the same vectors.
    decoded = oai.embeddings.create(model=EMBEDDING_MODEL, input=texts)
    floats = oai.embeddings.create(model=EMBEDDING_MODEL, input=texts, encoding_format="float")
    vectors = [item.embedding for item in floats.data]
    assert [len(v) for v in vectors] == [512] * 3
    assert all(math.isclose(a, b, abs_tol=1e-6) for x, y in zip(decoded.data, floats.data)
               for a, b in zip(x.embedding, y.embedding))
    cosine = lambda a, b: sum(x * y for x, y in zip(a, b))  # noqa: E731 — unit vectors
    assert cosine(vectors[0], vectors[1]) > 0.8 > cosine(vectors[0], vectors[2])
    assert floats.usage.prompt_tokens > len(texts)


@pytest.mark.parametrize("params, field", [
    ({"tools": [{"type": "function", "function": {"name": "lookup"}}]}, "tools"),
    ({"temperature": 3}, "temperature"),
    ({"n": 0}, "n"),
    ({"top_p": 0}, "top_p"),
    ({"max_tokens": 0}, "max_tokens"),
])
def test_unsupported_or_invalid_parameters_are_400_naming_the_field(oai, params, field):
    with pytest.raises(openai.BadRequestError) as raised:
        oai.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], extra_body=params)
    body = raised.value.response.json()
    assert raised.value.response.headers["content-type"] == "application/problem+json"
    assert any(error["field"] == field for error in body["errors"])


def test_prompt_longer_than_the_context_window_is_400(oai):
    with pytest.raises(openai.BadRequestError) as raised:
        oai.completions.create(model=MODEL, prompt="food " * 400, max_tokens=8)
    assert "context window" in raised.value.response.json()["detail"]


def test_unknown_model_is_404(oai):
    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "hi"}])
