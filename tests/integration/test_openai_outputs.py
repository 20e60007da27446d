"""The official `openai` client's structured outputs and log-probabilities against the platform, unchanged:
chat.completions.parse and its streaming helper with a pydantic model, logprobs in both APIs, and the 400s
naming what the platform does not honour. Few, short generations: a schema whose answer is a handful of tokens."""

from typing import Literal

import openai
import pytest
from pydantic import BaseModel, Field

MODEL = "smollm2-135m-instruct"
REVIEW = [{"role": "user", "content": "Guests loved the seafood but the service was slow. "
                                      "Give the sentiment and stars (1-5) as JSON."}]


class Verdict(BaseModel):
    sentiment: Literal["positive", "negative", "mixed"]
    stars: int = Field(ge=1, le=5)


@pytest.fixture(scope="module")
def oai(platform) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{platform.base_url}/v1", api_key=platform.api_key, max_retries=0)


def test_parse_returns_the_pydantic_object(oai):
    # The client sends the model's JSON schema (strict) and parses message.content into it.
    completion = oai.chat.completions.parse(model=MODEL, messages=REVIEW, response_format=Verdict, max_tokens=60,
                                            temperature=0)
    assert isinstance(completion.choices[0].message.parsed, Verdict)


def test_the_streaming_helper_parses_at_the_end(oai):
    with oai.chat.completions.stream(model=MODEL, messages=REVIEW, response_format=Verdict, max_tokens=60,
                                     temperature=0) as stream:
        final = stream.get_final_completion()
    assert isinstance(final.choices[0].message.parsed, Verdict)


def test_logprobs_come_with_every_token_and_the_alternatives_asked(oai):
    chat = oai.chat.completions.create(model=MODEL, messages=REVIEW, max_tokens=4, temperature=0, logprobs=True,
                                       top_logprobs=3)
    tokens = chat.choices[0].logprobs.content
    assert len(tokens) == chat.usage.completion_tokens
    assert all(len(token.top_logprobs) == 3 and token.logprob <= 0 for token in tokens)
    text = oai.completions.create(model=MODEL, prompt="The seafood pasta was", max_tokens=3, temperature=0,
                                  logprobs=2).choices[0].logprobs
    assert len(text.tokens) == len(text.token_logprobs) == len(text.text_offset) == 3
    assert all(1 <= len(top) <= 2 for top in text.top_logprobs)


@pytest.mark.parametrize("params, field", [
    ({"tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]}, "tools"),
    ({"top_logprobs": 2}, "top_logprobs"),  # without logprobs: true
])
def test_what_is_not_honoured_is_400_naming_the_field(oai, params, field):
    with pytest.raises(openai.BadRequestError) as raised:
        oai.chat.completions.create(model=MODEL, messages=REVIEW, max_tokens=4, **params)
    assert [error["field"] for error in raised.value.response.json()["errors"]] == [field]


def test_a_schema_the_engine_cannot_compile_is_400(oai):
    nonsense = {"type": "json_schema", "json_schema": {"name": "Bad", "schema": {"type": "nonsense"}}}
    with pytest.raises(openai.BadRequestError) as raised:
        oai.chat.completions.create(model=MODEL, messages=REVIEW, max_tokens=4, response_format=nonsense)
    assert raised.value.response.headers["content-type"] == "application/problem+json"
    assert "nonsense" in raised.value.response.json()["detail"]
