"""Hand-written English restaurant reviews with their labels (benchmarks/data/reviews_en.jsonl), and how answers to
review_analysis are scored against them (benchmarks/review_quality.py). A review's strengths are the aspects its
writer likes, its weaknesses those they dislike; `mixed` is a review with both."""

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from serve_app.common import llm_tasks
from serve_app.common.settings import REPO_ROOT

REVIEWS_FILE = REPO_ROOT / "benchmarks" / "data" / "reviews_en.jsonl"
Aspect = Literal["food", "service", "price", "ambience"]


class LabelledReview(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    sentiment: Literal["positive", "negative", "mixed"]
    strengths: frozenset[Aspect]
    weaknesses: frozenset[Aspect] = frozenset()


class Analysis(BaseModel):
    """One system's answer to one review, as review_analysis answers; a system that gives no summary has None."""

    model_config = ConfigDict(frozen=True)

    sentiment: str
    strengths: str
    summary: str | None = None


def labelled_reviews(path: Path = REVIEWS_FILE) -> list[LabelledReview]:
    return [LabelledReview.model_validate_json(line) for line in path.read_text().splitlines() if line.strip()]


def majority_answers(reviews: Sequence[LabelledReview]) -> list[Analysis]:
    """The trivial baseline: the commonest sentiment label and the most often liked aspect, for every review (ties go
    to the first in llm_tasks' order)."""
    labels = Counter(review.sentiment for review in reviews)
    liked = Counter(aspect for review in reviews for aspect in review.strengths)
    label = max(llm_tasks.SENTIMENTS, key=lambda name: labels[name])
    aspect = max(llm_tasks.ASPECTS, key=lambda name: liked[name])
    return [Analysis(sentiment=label, strengths=aspect if liked else llm_tasks.NO_STRENGTHS["en"])] * len(reviews)


def quality(reviews: Sequence[LabelledReview], answers: Sequence[Analysis | None]) -> dict:
    """Sentiment accuracy, strengths precision and recall (micro over the aspects) and the share of answer texts
    llm_tasks.degenerate flags. A review without an answer (a failed call) counts as wrong and liking nothing."""
    right = liked_right = said = liked = 0
    texts = []
    for review, answer in zip(reviews, answers, strict=True):
        liked += len(review.strengths)
        if answer is None:
            continue
        right += answer.sentiment.strip() == review.sentiment
        named = llm_tasks.aspects_named(answer.strengths, "en")
        said, liked_right = said + len(named), liked_right + len(named & review.strengths)
        texts += [text for text in (answer.sentiment, answer.strengths, answer.summary) if text is not None]
    return {"reviews": len(reviews), "answered": sum(answer is not None for answer in answers),
            "sentiment_accuracy": round(right / len(reviews), 3) if reviews else None,
            "strengths_precision": round(liked_right / said, 3) if said else None,
            "strengths_recall": round(liked_right / liked, 3) if liked else None,
            "degenerate": round(sum(map(llm_tasks.degenerate, texts)) / len(texts), 3) if texts else None}

