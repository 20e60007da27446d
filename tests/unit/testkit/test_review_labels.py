"""The hand-labelled English reviews and how answers to review_analysis are scored against them."""

from collections import Counter

from serve_app.common import llm_tasks
from testkit.review_labels import Analysis, LabelledReview, labelled_reviews, majority_answers, quality


def test_the_labelled_set_is_balanced_and_its_labels_follow_from_the_aspects():
    reviews = labelled_reviews()
    labels = Counter(review.sentiment for review in reviews)
    assert len(reviews) >= 40 and min(labels.values()) >= 12
    assert len({review.text for review in reviews}) == len(reviews)
    assert sum(not review.strengths for review in reviews) >= 10
    for review in reviews:
        opinions = {**dict.fromkeys(review.strengths, True), **dict.fromkeys(review.weaknesses, False)}
        assert not review.strengths & review.weaknesses, review.text
        assert not opinions or llm_tasks.sentiment(opinions) == review.sentiment, review.text


REVIEWS = [LabelledReview(text="a", sentiment="positive", strengths={"food", "service"}),
           LabelledReview(text="b", sentiment="negative", strengths=set(), weaknesses={"price"}),
           LabelledReview(text="c", sentiment="mixed", strengths={"price"}, weaknesses={"food"}),
           LabelledReview(text="d", sentiment="positive", strengths={"food"})]


def test_quality_scores_labels_and_liked_aspects_and_counts_a_failed_call_as_wrong():
    answers = [Analysis(sentiment="positive", strengths="food, price", summary="Guests like the food."),
               Analysis(sentiment=" negative", strengths="none", summary=""),
               None,
               Analysis(sentiment="mixed", strengths="food", summary="food food food food food")]
    assert quality(REVIEWS, answers) == {"reviews": 4, "answered": 3, "sentiment_accuracy": 0.5,
                                         "strengths_precision": 0.667, "strengths_recall": 0.5,
                                         "degenerate": round(2 / 9, 3)}


def test_a_system_that_names_no_aspect_has_no_precision():
    answers = [Analysis(sentiment="mixed", strengths="none")] * len(REVIEWS)
    figures = quality(REVIEWS, answers)
    assert figures["strengths_precision"] is None and figures["strengths_recall"] == 0.0


def test_the_majority_baseline_answers_the_commonest_label_and_the_most_liked_aspect():
    assert set(majority_answers(REVIEWS)) == {Analysis(sentiment="positive", strengths="food")}
    assert quality(REVIEWS, majority_answers(REVIEWS))["strengths_precision"] == 0.5
