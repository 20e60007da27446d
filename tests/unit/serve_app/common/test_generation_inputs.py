"""The checks every dialect shares on what a client asks of the LLM: text that is valid Unicode, stop
sequences and the tokens to generate within input_limits(), read on each request."""

import pytest
from pydantic import BaseModel, ValidationError

from serve_app.common import input_limits as limits_module
from serve_app.common.generation import ChatMessage, Stop, Text, Texts, UserText, within_completion_budget
from serve_app.common.input_limits import InputLimits


class Inputs(BaseModel):
    text: Text = "ok"
    user_text: UserText = "ok"
    texts: Texts = "ok"
    stop: Stop = None


def _refused(**fields) -> list[tuple]:
    with pytest.raises(ValidationError) as refused:
        Inputs(**fields)
    return [(issue["loc"], issue["msg"]) for issue in refused.value.errors()]


@pytest.mark.parametrize("field, value", [
    ("text", "\ud800"), ("text", "ok \udfff ok"), ("user_text", "hi\ud83d"), ("texts", "\ud800"),
    ("texts", ["fine", "\udc00"]), ("stop", "\ud800"), ("stop", ["\n", "\ud800"]),
])
def test_lone_surrogates_are_refused_naming_the_field(field, value):
    [(loc, message)] = _refused(**{field: value})
    assert loc == (field,) and "valid Unicode" in message


def test_valid_text_passes_including_astral_characters():
    text = "한국어 emoji \U0001f600 \u3000 full-width \uff11"
    assert Inputs(text=text, user_text=text, texts=[text], stop=[text[:4]]).text == text


def test_a_chat_message_refuses_a_lone_surrogate():
    with pytest.raises(ValidationError, match="valid Unicode"):
        ChatMessage(role="user", content="\ud800")


@pytest.mark.parametrize("stop, message", [
    ("", "1 to 64 characters"), ([""], "1 to 64 characters"), (["ok", ""], "1 to 64 characters"),
    (["x" * 65], "1 to 64 characters"), (["a", "b", "c", "d", "e"], "at most 4 stop sequences, not 5"),
])
def test_stop_sequences_are_bounded(stop, message):
    [(loc, refused)] = _refused(stop=stop)
    assert loc == ("stop",) and message in refused


@pytest.mark.parametrize("stop", [None, [], "\n", ["a", "b", "c", "x" * 64]])
def test_stop_sequences_within_the_limits_pass(stop):
    assert Inputs(stop=stop).stop == stop


def test_stop_limits_are_read_on_each_request(monkeypatch):
    monkeypatch.setattr(limits_module, "_current", InputLimits(stop_sequences=1, stop_chars=2))
    assert _refused(stop=["a", "b"])[0][1].endswith("at most 1 stop sequences, not 2")
    assert "1 to 2 characters" in _refused(stop="abc")[0][1]
    monkeypatch.setattr(limits_module, "_current", InputLimits(stop_sequences=0))
    assert Inputs(stop=[]).stop == []
    assert _refused(stop="a")


def test_the_completion_budget_names_the_fields_and_follows_the_live_limit(monkeypatch):
    within_completion_budget(8, 512, "n x max_tokens")
    within_completion_budget(8, None, "n x max_tokens")  # the context window bounds it then
    with pytest.raises(ValueError, match=r"n x max_tokens is 8 x 513 = 4104 tokens; at most 4096"):
        within_completion_budget(8, 513, "n x max_tokens")
    monkeypatch.setattr(limits_module, "_current", InputLimits(completion_tokens=100))
    with pytest.raises(ValueError, match="at most 100"):
        within_completion_budget(1, 101, "max_tokens")
