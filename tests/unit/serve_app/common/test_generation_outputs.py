"""What may constrain a generation (StructuredOutput: exactly one constraint, within input_limits(), hashable
inside SamplingOptions) and what is left of one the repetition guard ended."""

import json

import pytest
from pydantic import ValidationError

from serve_app.common import input_limits as limits_module
from serve_app.common.generation import SamplingOptions, StructuredOutput, without_repeated_tail
from serve_app.common.input_limits import InputLimits

SCHEMA = {"type": "object", "properties": {"label": {"enum": ["positive", "negative"]}}, "required": ["label"]}


def test_graph_code_builds_each_kind_and_sampling_options_stay_a_cache_key():
    sentiment = SamplingOptions(max_tokens=4, structured=StructuredOutput(choice=("positive", "negative", "mixed")))
    schema = SamplingOptions(structured=StructuredOutput(json_schema=json.dumps(SCHEMA, sort_keys=True)))
    same_schema = SamplingOptions(structured=StructuredOutput(json_schema=json.dumps(SCHEMA, sort_keys=True)))
    cache = {sentiment: "a", schema: "b"}
    assert cache[same_schema] == "b" and len(cache) == 2
    assert StructuredOutput(json_object=True).json_object and StructuredOutput(regex=r"\d{3}").regex == r"\d{3}"


@pytest.mark.parametrize("fields, message", [
    ({}, "exactly one of"),
    ({"choice": ("a",), "regex": "a"}, "exactly one of"),
    ({"json_object": False}, "exactly one of"),
    ({"choice": ()}, "at least 1 item"),
    ({"json_schema": "[1, 2]"}, "JSON object"),
    ({"json_schema": "{not json"}, "Expecting property name"),
    ({"regex": "\ud800"}, "valid Unicode"),
])
def test_anything_but_one_valid_constraint_is_refused(fields, message):
    with pytest.raises(ValidationError, match=message):
        StructuredOutput(**fields)


def test_constraints_are_bounded_by_the_live_limit(monkeypatch):
    monkeypatch.setattr(limits_module, "_current", InputLimits(structured_output_bytes=64))
    StructuredOutput(choice=("positive", "negative", "mixed"))
    for fields in ({"choice": ("x" * 70,)}, {"regex": "a" * 70},
                   {"json_schema": json.dumps({"enum": ["y" * 70]})}):
        with pytest.raises(ValidationError, match="at most 64 may constrain an output"):
            StructuredOutput(**fields)


@pytest.mark.parametrize("text, kept", [
    ("Guests dislike the seafood (Caption seafood (something try try try try",
     "Guests dislike the seafood (Caption seafood (something try"),
    ('{"dish": "Soy-Soy-Soy-Soy-Soy-Soy-Soy-Soy-', '{"dish": "Soy-'),
    ("The pasta. The pasta. The pasta. The pasta. ", "The pasta. "),
    ("beebeebee", "bee"),
    ("No loop at all.", "No loop at all."),
    ("", ""),
])
def test_a_loop_at_the_end_is_cut_to_one_copy(text, kept):
    assert without_repeated_tail(text) == kept
