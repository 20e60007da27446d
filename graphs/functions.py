"""The functions a `function` node may name: glue between models and rule-based answers. Pure and quick;
they run on the ingress's event loop."""

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from serve_app.common import llm_tasks, review_prompts
from serve_app.common.generation import ChatMessage, GenerationRequest, SamplingOptions
from serve_app.common.hangul import has_hangul
from serve_app.common.images import ImageRequest, check_image
from serve_app.common.recsys_features import AFFINITY_COLUMNS, UNKNOWN_CATEGORY, CandidateFeatures
from serve_app.common.text_preprocessing import preprocess_text

# An item is popular among the candidates when its click rate is in their top quarter.
POPULAR_QUANTILE = 0.75
# A word, as reviews_language counts them: a run of letters (no digits, no punctuation).
_WORD = re.compile(r"[^\W\d_]+")


def decode_image(image: str | bytes) -> bytes:
    """base64 PNG/JPEG (or raw bytes, from a KServe V2 BYTES tensor) → bytes; InvalidImage (400) for what is
    not a PNG/JPEG, PayloadTooLarge (413) for more pixels than the limit, both before any decoder runs."""
    if not isinstance(image, bytes):
        return ImageRequest(image=image).image_bytes()
    check_image(image)
    return image


def constant(value: Any) -> Any:
    """A fixed answer: the rule-based fallback of a node."""
    return value


def chat(template: str, max_tokens: int = 48, **values: Any) -> GenerationRequest:
    """A greedy one-turn chat for LLMServer.complete, the user's text filled from `template` (cut to
    fit the context window rather than refused)."""
    return _one_turn(template.format(**values), max_tokens)


def task_prompt(task: llm_tasks.Task, **values: str) -> GenerationRequest:
    """One of the built-in LLM tasks (serve_app/common/llm_tasks.py), exactly as the LLM was trained on it."""
    return _one_turn(llm_tasks.prompt(task, **values), llm_tasks.MAX_TOKENS[task])


def instruct_prompt(task: review_prompts.ReviewTask, reviews: str) -> GenerationRequest:
    """A review task for the pretrained instruction model (serve_app/common/review_prompts.py), its answer
    constrained to the labels or the JSON the graph reads."""
    return _one_turn(review_prompts.prompt(task, reviews), review_prompts.MAX_TOKENS[task],
                     stop=review_prompts.STOP[task], structured=review_prompts.OUTPUTS[task])


def reviews_language(reviews: list[str]) -> llm_tasks.Language:
    """`ko` when at least as many of the reviews' words hold Hangul as not, else `en`: the pretrained model reads
    English only and the task model both, so a tie goes to the task model; an English review naming a Korean dish
    stays English."""
    words = [word for review in reviews for word in _WORD.findall(review)]
    korean = sum(map(has_hangul, words))
    return "ko" if korean and 2 * korean >= len(words) else "en"


def _one_turn(text: str, max_tokens: int, **sampling: Any) -> GenerationRequest:
    return GenerationRequest(messages=[ChatMessage(role="user", content=text)],
                             sampling=SamplingOptions(max_tokens=max_tokens, temperature=0.0, **sampling),
                             truncate_prompt=True)


def ranked_item_lines(features: CandidateFeatures, items: list[dict], k: int = 3,
                      language: llm_tasks.Language = "en") -> str:
    """The first `k` ranked items as the explanation prompt shows them: id, category, and whether the user
    likes the category (clicks it more than anything) and whether the item is popular among the candidates."""
    column = {item_id: i for i, item_id in enumerate(features.item_ids)}
    ctr = np.asarray(features.items["item_ctr"], dtype=float)
    popular_from = float(np.quantile(ctr, POPULAR_QUANTILE)) if len(ctr) else 0.0
    described = []
    for item in items[:k]:
        i = column[item["item_id"]]
        category = int(features.items["category"][i])
        known = category != UNKNOWN_CATEGORY
        name = llm_tasks.CATEGORY_NAMES[language][category] if known else llm_tasks.NEW_CATEGORY[language]
        liked = known and features.user[AFFINITY_COLUMNS[category]] > features.user["user_ctr"]
        described.append(llm_tasks.item_line(item["item_id"], name, liked, ctr[i] >= popular_from))
    return lines(described)


def masked_reviews(reviews: list[str], max_chars: int = 4096) -> list[str]:
    """The review texts, PII masked and each cut to `max_chars`: the masking runs on the event loop, so its cost
    is bounded by what the graph's input declares (a number of reviews and a length each)."""
    return [preprocess_text(review, max_chars) for review in reviews]


def more_than(items: list, count: int) -> bool:
    return len(items) > count


def lines(texts: list[str]) -> str:
    return "\n".join(texts)


def representative_reviews(reviews: list[str], vectors: list[list[float]], k: int = 5, diversity: float = 0.0) -> str:
    """S2's representative top-K: `k` reviews picked by their embeddings' closeness to the mean (the restaurant's
    representative vector), in the order they came, one per line. With `diversity` > 0 each next pick also
    keeps away from those already picked (maximal marginal relevance): the reviews closest to the mean say the
    same common things, and the rarer aspects go missing (benchmarks/results/review_topk.md)."""
    unit = np.asarray(vectors, dtype=float)
    mean = unit.mean(axis=0)
    relevance = unit @ (mean / (np.linalg.norm(mean) or 1.0))
    picked: list[int] = []
    for _ in range(min(k, len(reviews))):
        redundancy = (unit @ unit[picked].T).max(axis=1) if picked else np.zeros(len(reviews))
        score = (1 - diversity) * relevance - diversity * redundancy
        score[picked] = -np.inf
        picked.append(int(np.argmax(score)))
    return lines([reviews[i] for i in sorted(picked)])


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "decode_image": decode_image, "constant": constant, "chat": chat,
    "masked_reviews": masked_reviews, "task_prompt": task_prompt, "ranked_item_lines": ranked_item_lines,
    "more_than": more_than, "lines": lines, "representative_reviews": representative_reviews,
    "reviews_language": reviews_language, "instruct_prompt": instruct_prompt,
    "instruct_sentiment": review_prompts.sentiment, "instruct_strengths": review_prompts.strengths,
}
