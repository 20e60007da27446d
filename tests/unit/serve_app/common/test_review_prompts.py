"""The pretrained model's review answers read back into the task model's words."""

import json

import pytest

from serve_app.common import llm_tasks, review_prompts


def test_constraints_allow_only_the_labels_and_the_four_aspects():
    sentiment = json.loads(review_prompts.OUTPUTS["sentiment"].json_schema)
    assert sentiment["properties"]["sentiment"]["enum"] == list(llm_tasks.SENTIMENTS)
    strengths = json.loads(review_prompts.OUTPUTS["strengths"].json_schema)
    assert set(strengths["properties"]) == set(strengths["required"]) == set(llm_tasks.ASPECTS)
    assert review_prompts.OUTPUTS["summary"] is None and review_prompts.STOP["summary"] == ("\n",)


def test_the_instruction_follows_the_reviews():
    text = review_prompts.prompt("strengths", "Great pasta.\nRude waiter.")
    assert text.startswith("Review: Great pasta.\nRude waiter.\n") and text.endswith("Answer true or false for each.")


@pytest.mark.parametrize(("answer", "label"), [('{"sentiment": "negative"}', "negative"),
                                               ('{\n  "sentiment": "positive"\n}', "positive"),
                                               ('{"sentiment": "great"}', "mixed"), ('{"sentiment": "pos', "mixed"),
                                               ("positive", "mixed"), ('["negative"]', "mixed")])
def test_sentiment_reads_the_label_and_claims_least_without_one(answer, label):
    assert review_prompts.sentiment(answer) == label


@pytest.mark.parametrize(("answer", "strengths"), [
    ('{"ambience": true, "food": true, "price": false, "service": true}', "food, service, ambience"),
    ('{"ambience": false, "food": false, "price": false, "service": false}', "none"),
    ('{"food": "true", "price": 1, "service": true}', "service"),
    ('{"ambience": true, "food": tr', "none"), ("food, service", "none"), ("", "none"), ("[true]", "none")])
def test_strengths_are_the_praised_aspects_in_the_task_models_words(answer, strengths):
    assert review_prompts.strengths(answer) == strengths
