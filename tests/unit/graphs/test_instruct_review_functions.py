"""The graph functions of review analysis on the pretrained instruction model, and the switch between models."""

import json

import pytest

from graphs.functions import FUNCTIONS, instruct_prompt, reviews_language
from serve_app.common import llm_tasks, review_prompts


def test_instruct_prompt_is_greedy_with_the_tasks_constraint():
    reviews = "Great pasta.\nRude waiter."
    strengths = instruct_prompt("strengths", reviews)
    assert strengths.messages[0].content == review_prompts.prompt("strengths", reviews) and strengths.truncate_prompt
    assert strengths.sampling.temperature == 0.0
    assert strengths.sampling.max_tokens == review_prompts.MAX_TOKENS["strengths"]
    assert set(json.loads(strengths.sampling.structured.json_schema)["properties"]) == set(llm_tasks.ASPECTS)
    summary = instruct_prompt("summary", reviews).sampling
    assert summary.structured is None and summary.stop == ("\n",) and summary.max_tokens == 48


def test_the_answers_are_read_by_registered_functions():
    assert FUNCTIONS["instruct_sentiment"]('{"sentiment": "mixed"}') == "mixed"
    assert FUNCTIONS["instruct_strengths"]('{"ambience": false, "food": true, "price": true, "service": false}') \
        == "food, price"


@pytest.mark.parametrize(("reviews", "language"), [
    (["The food was great."], "en"), (["음식이 맛있어요."], "ko"), (["The 비빔밥 was great, and cheap too."], "en"),
    (["Great food!", "서비스가 느려요", "가격이 비싸요"], "ko"), (["분위기 good"], "ko"), (["ㅋㅋㅋ"], "ko"),
    (["10/10 👍"], "en"), (["Pasta 12000원"], "ko")])
def test_reviews_language_is_korean_when_half_the_words_hold_hangul(reviews, language):
    assert reviews_language(reviews) == language
