"""Review analysis (S2) of English reviews on a pretrained instruction model (SmolLM2-135M-Instruct): the prompts
and the constraints on its answers. The words of the answers are the task model's (llm_tasks.py), so a client
sees one shape whichever model answered. A 135M model is weak at this: benchmarks/review_quality.py measures it
on hand-labelled reviews beside the task model."""

import json
from typing import Literal

from serve_app.common.generation import StructuredOutput
from serve_app.common.llm_tasks import ASPECTS, NO_STRENGTHS, SENTIMENTS

ReviewTask = Literal["sentiment", "summary", "strengths"]

# The instruction comes last, as the task model's: a prompt cut to fit the window loses its first reviews, not the
# task. Each wording was picked among several on reviews written for tuning (not the labelled set), one at a time
# and three to a restaurant. A JSON answer ({"sentiment": ...}) beat a bare choice among the labels with the same
# words (one review: 54% against 48% right; three: 67% against 11%, the choice hardly ever saying "mixed").
PROMPTS: dict[ReviewTask, str] = {
    "sentiment": "Reviews:\n{reviews}\nOverall sentiment (positive, negative or mixed):",
    "summary": "Reviews:\n{reviews}\n\nSummarise what the guests liked and disliked in one sentence.",
    # One true or false per aspect: a list of the liked aspects named too few (three reviews: 24% of the liked
    # aspects against 65%) or one aspect over and over.
    "strengths": "Review: {reviews}\nWhich of food, service, price and ambience does the guest praise? "
                 "Answer true or false for each.",
}


def _json_schema(properties: dict) -> str:
    schema = {"type": "object", "properties": properties, "required": list(properties),
              "additionalProperties": False}
    return json.dumps(schema, sort_keys=True)


# Keys in sorted order are the order the model writes them (ambience, food, price, service).
OUTPUTS: dict[ReviewTask, StructuredOutput | None] = {
    "sentiment": StructuredOutput(json_schema=_json_schema({"sentiment": {"enum": list(SENTIMENTS)}})),
    "summary": None,
    "strengths": StructuredOutput(json_schema=_json_schema({aspect: {"type": "boolean"} for aspect in ASPECTS})),
}
# The JSON answers with the whitespace the model puts in (about 10 tokens for the sentiment, 30 for the strengths),
# with room to spare; a summary is one sentence, ended at the line's end.
MAX_TOKENS: dict[ReviewTask, int] = {"sentiment": 24, "summary": 48, "strengths": 64}
STOP: dict[ReviewTask, tuple[str, ...]] = {"sentiment": (), "summary": ("\n",), "strengths": ()}


def prompt(task: ReviewTask, reviews: str) -> str:
    return PROMPTS[task].format(reviews=reviews)


def _answer_object(answer: str) -> dict:
    """The JSON object of a constrained answer; {} for anything else (a cut answer, a fallback's text)."""
    try:
        value = json.loads(answer)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def sentiment(answer: str) -> str:
    """The label of a sentiment answer; `mixed`, which claims least, when the answer holds none."""
    label = _answer_object(answer).get("sentiment")
    return label if label in SENTIMENTS else "mixed"


def strengths(answer: str) -> str:
    """The praised aspects of a strengths answer, comma-separated, or `none` (also for an answer that is not the
    JSON asked for): what the task model answers (llm_tasks.strengths)."""
    praised = _answer_object(answer)
    return ", ".join(aspect for aspect in ASPECTS if praised.get(aspect) is True) or NO_STRENGTHS["en"]
