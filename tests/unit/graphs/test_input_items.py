"""An array input may declare its items, so each element is bounded before any node runs (a review's text,
say): a 422 naming the element instead of unbounded work in a function node."""

import time

import pytest
from pydantic import ValidationError

from graphs.functions import masked_reviews
from graphs.input_schema import InputField, input_model
from graphs.spec import GraphSpec
from serve_app.app import serve_config_args

REVIEWS = {"reviews": {"type": "array", "min_length": 1, "max_length": 3,
                       "items": {"type": "string", "min_length": 1, "max_length": 5}}}


def _model(fields: dict) -> type:
    return input_model("g", {name: InputField(**field) for name, field in fields.items()})


def _refused(fields: dict, body: dict) -> list[tuple]:
    with pytest.raises(ValidationError) as refused:
        _model(fields).model_validate(body)
    return [(issue["loc"], issue["msg"]) for issue in refused.value.errors()]


def test_items_within_their_bounds_pass():
    assert _model(REVIEWS).model_validate({"reviews": ["good", "bad"]}).model_dump() == {"reviews": ["good", "bad"]}


@pytest.mark.parametrize("reviews, loc, message", [
    (["good", "too long"], ("reviews", 1), "String should have at most 5 characters"),
    ([""], ("reviews", 0), "String should have at least 1 character"),
    ([42], ("reviews", 0), "Input should be a valid string"),
    (["a\ud800"], ("reviews", 0), "valid"),
    (["a", "b", "c", "d"], ("reviews",), "List should have at most 3 items"),
    ([], ("reviews",), "List should have at least 1 item"),
])
def test_items_out_of_bounds_are_refused_naming_the_element(reviews, loc, message):
    [(where, refused)] = _refused(REVIEWS, {"reviews": reviews})
    assert where == loc and message in refused


def test_a_string_input_refuses_a_lone_surrogate_and_raw_bytes_still_pass():
    fields = {"name": {"type": "string"}, "names": {"type": "array", "items": {"type": "string", "max_length": 3}}}
    [(loc, message)] = _refused(fields, {"name": "\ud800", "names": []})
    assert loc == ("name",) and "valid Unicode" in message
    # A KServe V2 BYTES tensor hands raw bytes where JSON has text.
    assert _model(fields).model_validate({"name": b"\xff\xfe", "names": [b"long bytes"]}).name == b"\xff\xfe"


def test_items_appear_in_the_openapi_schema():
    schema = _model(REVIEWS).model_json_schema()["properties"]["reviews"]
    assert (schema["maxItems"], schema["items"]) == (3, {"type": "string", "minLength": 1, "maxLength": 5})


@pytest.mark.parametrize("field, message", [
    ({"type": "string", "items": {"type": "string"}}, "items declare an array's elements, not a string's"),
    ({"type": "array", "items": {"type": "string", "default": "x"}}, "items take no default"),
    ({"type": "array", "items": {"type": "boolean", "max_length": 3}}, "min_length/max_length bound strings"),
    ({"type": "array", "items": {"type": "date"}}, "type"),
])
def test_items_that_do_not_fit_are_refused_at_deploy(field, message):
    with pytest.raises(ValidationError, match=message):
        GraphSpec.model_validate({"root": "a", "input": {"x": field},
                                  "nodes": {"a": {"kind": "function", "function": "constant", "args": [1]}}})


def test_review_analysis_bounds_each_review():
    spec = serve_config_args().graphs["review_analysis"]
    items = spec.input["reviews"].items
    assert items.type == "string" and items.max_length <= 4096
    model = input_model("review_analysis", spec.input)
    body = {"restaurant_id": "r1", "analysis": "full", "reviews": ["fine", "x" * (items.max_length + 1)]}
    with pytest.raises(ValidationError) as refused:
        model.model_validate(body)
    assert [issue["loc"] for issue in refused.value.errors()] == [("reviews", 1)]


def test_masked_reviews_masks_and_cuts_each_review_quickly():
    reviews = ["맛있어요  연락은\n010-1234-5678", "a" * 200_000, "a@" * 100_000, "1-" * 100_000, "." * 200_000]
    started = time.perf_counter()
    masked = masked_reviews(reviews, max_chars=100)
    assert time.perf_counter() - started < 1.0
    assert masked[0] == "맛있어요 연락은 [PHONE]"
    assert [len(review) for review in masked[1:]] == [100] * 4
