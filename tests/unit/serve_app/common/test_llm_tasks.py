"""The built-in LLM tasks' answers and how they are judged."""

import pytest

from serve_app.common import llm_tasks


@pytest.mark.parametrize(("opinions", "label"), [({"food": True}, "positive"), ({"food": False, "price": False},
                                                 "negative"), ({"food": True, "service": False}, "mixed")])
def test_sentiment_follows_the_opinions(opinions, label):
    assert llm_tasks.sentiment(opinions) == label


def test_summary_names_every_aspect_and_strengths_the_liked_ones_in_each_language():
    opinions = {"ambience": False, "food": True, "price": True}
    assert llm_tasks.summary(opinions, "en") == "Guests like the food and price but not the ambience."
    assert llm_tasks.summary(opinions, "ko") == "손님들은 음식, 가격은 좋아하지만 분위기는 아쉬워해요."
    assert llm_tasks.strengths(opinions, "en") == "food, price"
    assert llm_tasks.strengths({"service": False}, "ko") == "없음"
    assert llm_tasks.aspects_named(llm_tasks.summary(opinions, "ko"), "ko") == set(opinions)


def test_explanation_gives_each_item_its_category_and_reason():
    items = [(12, "noodles", True, True), (7, "pizza", False, True), (3, "salad", False, False)]
    assert llm_tasks.explanation(items, "en") == ("Picked for you: 12 noodles (matches your taste); "
                                                  "7 pizza (popular with others); 3 salad (something new to try).")
    assert llm_tasks.explanation([(12, "국수", False, True)], "ko") == "추천: 12 국수(인기 메뉴)."
    assert llm_tasks.item_line(12, "noodles", True, True) == "12 noodles liked popular"
    assert llm_tasks.item_line(12, "국수", False, False) == "12 국수"


@pytest.mark.parametrize(("text", "looping"), [(" The The The The The", True), ("fresh fresh fresh", False),
                                               ("맛있맛있맛있맛있", True), ("", True), ("food, service", False),
                                               ("Guests like the food and price but not the ambience.", False)])
def test_degenerate_finds_repeated_token_loops(text, looping):
    assert llm_tasks.degenerate(text) is looping
