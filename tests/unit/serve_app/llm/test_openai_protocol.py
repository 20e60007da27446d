"""OpenAI requests as the platform's SamplingOptions (structured outputs, logprobs, penalties, seed), the
refusals naming their field, and log-probabilities in OpenAI's chat and completions shapes, whole and streamed."""

import asyncio
import json

import pytest
from pydantic import ValidationError

from serve_app.common.generation import (
    Completion,
    Delta,
    StreamEvent,
    StructuredOutput,
    TokenLogprob,
    TopLogprob,
    Usage,
)
from serve_app.llm.openai_api.protocol import ChatCompletionRequest, CompletionRequest
from serve_app.llm.openai_api.serving import chat_completion, chat_stream, text_completion, text_stream

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
COMPLETION = {"model": "m", "prompt": "hi"}
# As the official client sends a pydantic model's schema (chat.completions.parse, response_format=Verdict).
SCHEMA = {"properties": {"sentiment": {"enum": ["positive", "negative"], "type": "string"},
                         "stars": {"maximum": 5, "minimum": 1, "type": "integer"}},
          "required": ["sentiment", "stars"], "type": "object", "additionalProperties": False}
JSON_SCHEMA_FORMAT = {"type": "json_schema", "json_schema": {"name": "Verdict", "schema": SCHEMA, "strict": True}}


def _structured(body: dict) -> StructuredOutput | None:
    return ChatCompletionRequest.model_validate({**CHAT, **body}).sampling().structured


@pytest.mark.parametrize("body, expected", [
    ({"response_format": JSON_SCHEMA_FORMAT}, StructuredOutput(json_schema=json.dumps(SCHEMA))),
    ({"response_format": {"type": "json_object"}}, StructuredOutput(json_object=True)),
    ({"response_format": {"type": "text"}}, None),
    ({"structured_outputs": {"choice": ["yes", "no"]}}, StructuredOutput(choice=("yes", "no"))),
    ({"structured_outputs": {"json": json.dumps(SCHEMA)}}, StructuredOutput(json_schema=json.dumps(SCHEMA))),
    ({"structured_outputs": {"regex": r"\d+"}}, StructuredOutput(regex=r"\d+")),
    ({"structured_outputs": {"json_object": True}}, StructuredOutput(json_object=True)),
    ({"guided_choice": ["yes", "no"]}, StructuredOutput(choice=("yes", "no"))),
    ({"guided_json": SCHEMA}, StructuredOutput(json_schema=json.dumps(SCHEMA))),
    ({"guided_regex": "[a-z]+", "response_format": {"type": "text"}}, StructuredOutput(regex="[a-z]+")),
    ({}, None),
])
def test_every_way_to_ask_for_a_structure_is_one_structured_output(body, expected):
    assert _structured(body) == expected


def test_the_schema_keeps_the_clients_property_order():
    """The model writes properties in the schema's order: reasoning before the answer stays so."""
    schema = {"type": "object", "properties": {"reasoning": {"type": "string"}, "answer": {"type": "string"}}}
    text = _structured({"guided_json": schema}).json_schema
    assert list(json.loads(text)["properties"]) == ["reasoning", "answer"]


def test_sampling_options_carry_seed_penalties_and_logprobs():
    chat = ChatCompletionRequest.model_validate({**CHAT, "seed": 7, "presence_penalty": 1.5, "frequency_penalty": -2,
                                                 "logprobs": True, "top_logprobs": 20})
    sampling = chat.sampling()
    assert (sampling.seed, sampling.presence_penalty, sampling.frequency_penalty, sampling.logprobs) == (7, 1.5, -2, 20)
    assert ChatCompletionRequest.model_validate({**CHAT, "logprobs": True}).sampling().logprobs == 0
    assert ChatCompletionRequest.model_validate({**CHAT, "logprobs": False}).sampling().logprobs is None
    assert CompletionRequest.model_validate({**COMPLETION, "logprobs": 5}).sampling().logprobs == 5
    assert CompletionRequest.model_validate(COMPLETION).sampling().logprobs is None


def _refused(model, body: dict) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(body)
    return [(".".join(map(str, issue["loc"])), issue["msg"]) for issue in refused.value.errors()]


@pytest.mark.parametrize("body, field", [
    ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
    ({"tool_choice": "auto"}, "tool_choice"),
    ({"logit_bias": {"50256": -100}}, "logit_bias"),
    ({"parallel_tool_calls": False}, "parallel_tool_calls"),
    ({"top_logprobs": 2}, "top_logprobs"),  # without logprobs: true
    ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
    ({"presence_penalty": 2.5}, "presence_penalty"),
    ({"response_format": {"type": "json_schema"}}, "response_format"),
    ({"response_format": {"type": "xml"}}, "response_format.type"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "V", "schema": [1]}}},
     "response_format.json_schema.schema"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "", "schema": {}}}},
     "response_format.json_schema.name"),
    ({"structured_outputs": {"grammar": "root ::= \"a\""}}, "structured_outputs.grammar"),
    ({"structured_outputs": {"choice": ["a"], "regex": "a"}}, "structured_outputs"),
    ({"structured_outputs": {"json": "{not json"}}, "structured_outputs.json"),
    ({"guided_choice": []}, "guided_choice"),
    ({"guided_json": {"enum": ["x" * 70_000]}}, "guided_json"),
])
def test_what_the_platform_does_not_honour_is_refused_naming_the_field(body, field):
    assert [name for name, _ in _refused(ChatCompletionRequest, {**CHAT, **body})] == [field]


def test_completions_refuse_more_logprobs_than_openai_allows():
    assert [name for name, _ in _refused(CompletionRequest, {**COMPLETION, "logprobs": 6})] == ["logprobs"]


def test_two_constraints_at_once_are_refused_naming_both():
    [(_, message)] = _refused(ChatCompletionRequest, {**CHAT, "response_format": {"type": "json_object"},
                                                      "guided_choice": ["a", "b"]})
    assert "response_format and guided_choice each constrain the output" in message


def _token(text: str, logprob: float, *alternatives: tuple[str, float]) -> TokenLogprob:
    def top(token: str, value: float) -> TopLogprob:
        return TopLogprob(token=token, logprob=value, bytes=list(token.encode()))
    return TokenLogprob(**top(text, logprob).model_dump(), top_logprobs=[top(*pair) for pair in alternatives])


TOKENS = [_token("Good", -0.5, ("Good", -0.5), ("Bad", -1.5)), _token(" food", -0.25, (" food", -0.25), (" fun", -2.0))]
COMPLETION_WITH_LOGPROBS = Completion(texts=["Good food"], finish_reasons=["repetition"],
                                      usage=Usage(prompt_tokens=3, completion_tokens=2), logprobs=[TOKENS])


def test_chat_logprobs_in_openais_shape_and_a_cut_loop_reported_as_stop():
    choice = chat_completion("m", COMPLETION_WITH_LOGPROBS).model_dump()["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["logprobs"]["content"][1] == {
        "token": " food", "logprob": -0.25, "bytes": [32, 102, 111, 111, 100],
        "top_logprobs": [{"token": " food", "logprob": -0.25, "bytes": [32, 102, 111, 111, 100]},
                         {"token": " fun", "logprob": -2.0, "bytes": [32, 102, 117, 110]}]}
    plain = COMPLETION_WITH_LOGPROBS.model_copy(update={"logprobs": None})
    assert chat_completion("m", plain).model_dump()["choices"][0]["logprobs"] is None  # null, as OpenAI


def test_completions_logprobs_in_the_legacy_shape():
    choice = text_completion("m", COMPLETION_WITH_LOGPROBS).model_dump()["choices"][0]
    assert choice["logprobs"] == {"tokens": ["Good", " food"], "token_logprobs": [-0.5, -0.25],
                                  "top_logprobs": [{"Good": -0.5, "Bad": -1.5}, {" food": -0.25, " fun": -2.0}],
                                  "text_offset": [0, 4]}


async def _events():
    yield StreamEvent(deltas=[Delta(index=0, text="Good", logprobs=TOKENS[:1])])
    yield StreamEvent(deltas=[Delta(index=0, text=" food", finish_reason="length", logprobs=TOKENS[1:])],
                      usage=Usage(prompt_tokens=3, completion_tokens=2))


def _chunks(stream) -> list[dict]:
    async def read() -> list[str]:
        return [event async for event in stream]
    events = asyncio.run(read())
    assert events[-1] == "data: [DONE]\n\n"
    return [json.loads(event.removeprefix("data: ")) for event in events[:-1]]


def test_streamed_chat_chunks_carry_their_tokens_logprobs():
    chunks = _chunks(chat_stream("m", _events(), include_usage=False))
    assert [chunk["choices"][0]["logprobs"]["content"][0]["token"] for chunk in chunks] == ["Good", " food"]
    assert chunks[1]["choices"][0]["logprobs"]["content"][0]["top_logprobs"][1] == {
        "token": " fun", "logprob": -2.0, "bytes": [32, 102, 117, 110]}


def test_streamed_completion_offsets_continue_across_chunks():
    chunks = _chunks(text_stream("m", _events(), include_usage=False))
    assert [chunk["choices"][0]["logprobs"]["text_offset"] for chunk in chunks] == [[0], [4]]
    assert chunks[1]["choices"][0]["logprobs"]["top_logprobs"] == [{" food": -0.25, " fun": -2.0}]
