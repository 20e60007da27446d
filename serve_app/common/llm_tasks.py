"""The built-in graphs' LLM tasks: the prompts the graphs send, the answers the tiny LLM is trained to give,
and how an answer is judged. One home, so the artifact builder and the graphs cannot drift apart.

Review analysis (S2) speaks of four aspects, each liked or disliked: sentiment is `positive`, `negative` or
`mixed`; the summary names every aspect the reviews mention; the strengths are the liked aspects.
Answers follow the reviews' language (English or Korean); the sentiment label is always English."""

import re
from collections.abc import Iterable, Mapping
from typing import Literal

from serve_app.common.hangul import josa

Language = Literal["en", "ko"]
Task = Literal["sentiment", "summary", "strengths", "explain"]
LANGUAGES: tuple[Language, ...] = ("en", "ko")
ASPECTS = ("food", "service", "price", "ambience")
ASPECT_NAMES: dict[Language, dict[str, str]] = {
    "en": {aspect: aspect for aspect in ASPECTS},
    "ko": {"food": "음식", "service": "서비스", "price": "가격", "ambience": "분위기"},
}
SENTIMENTS = ("positive", "negative", "mixed")
NO_STRENGTHS: dict[Language, str] = {"en": "none", "ko": "없음"}
# The recommender's item categories by index (serve_app/common/recsys_features.py CATEGORIES), as the
# explanation names them; an item the feature store does not know yet is "new".
CATEGORY_NAMES: dict[Language, tuple[str, ...]] = {
    "en": ("noodles", "grill", "pizza", "salad", "dessert", "coffee", "seafood", "chicken"),
    "ko": ("국수", "고기구이", "피자", "샐러드", "디저트", "커피", "해산물", "치킨"),
}
NEW_CATEGORY: dict[Language, str] = {"en": "new", "ko": "신메뉴"}
# Flags an item line carries into the explanation prompt.
LIKED, POPULAR = "liked", "popular"

# The instruction comes last: a prompt cut to fit the context window loses its first reviews, not the task.
PROMPTS: dict[Task, str] = {
    "sentiment": "{reviews}\nSentiment of these reviews (positive, negative or mixed):",
    "summary": "{reviews}\nSummarise these reviews in one sentence:",
    "strengths": "{reviews}\nWhat do guests like in these reviews?",
    "explain": "{items}\nExplain why these items suit me:",
}
# Enough for the longest trained answer (an explanation of three items in Korean), with room to spare.
MAX_TOKENS: dict[Task, int] = {"sentiment": 4, "summary": 48, "strengths": 24, "explain": 64}


def prompt(task: Task, **values: str) -> str:
    """The user turn of `task`, its fields filled in."""
    return PROMPTS[task].format(**values)


def sentiment(opinions: Mapping[str, bool]) -> str:
    """`opinions` maps each mentioned aspect to liked (True) or disliked (False)."""
    liked = set(opinions.values())
    return "mixed" if len(liked) > 1 else "positive" if liked == {True} else "negative"


def _listed(names: list[str], language: Language) -> str:
    if language == "ko" or len(names) == 1:
        return ", ".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def _with_josa(names: list[str], with_final: str, without_final: str) -> str:
    return _listed(names, "ko") + josa(names[-1], with_final, without_final)


def _names(opinions: Mapping[str, bool], liked: bool, language: Language) -> list[str]:
    return [ASPECT_NAMES[language][a] for a in ASPECTS if opinions.get(a) is liked]


def summary(opinions: Mapping[str, bool], language: Language) -> str:
    """One sentence naming every mentioned aspect, the liked ones first."""
    good, bad = _names(opinions, True, language), _names(opinions, False, language)
    if language == "ko":
        if good and bad:
            return f"손님들은 {_with_josa(good, '은', '는')} 좋아하지만 {_with_josa(bad, '은', '는')} 아쉬워해요."
        return f"손님들은 {_with_josa(good, '을', '를')} 좋아해요." if good else \
            f"손님들은 {_with_josa(bad, '을', '를')} 아쉬워해요."
    if good and bad:
        return f"Guests like the {_listed(good, language)} but not the {_listed(bad, language)}."
    return f"Guests like the {_listed(good, language)}." if good else f"Guests dislike the {_listed(bad, language)}."


def strengths(opinions: Mapping[str, bool], language: Language) -> str:
    """The liked aspects, comma-separated, or `none`."""
    return ", ".join(_names(opinions, True, language)) or NO_STRENGTHS[language]


def answer(task: Task, opinions: Mapping[str, bool], language: Language) -> str:
    """The right answer of a review task (sentiment, summary or strengths) to reviews saying `opinions`."""
    return sentiment(opinions) if task == "sentiment" else \
        summary(opinions, language) if task == "summary" else strengths(opinions, language)


def item_line(item_id: int, category: str, liked: bool, popular: bool) -> str:
    """One ranked item as the explanation prompt shows it: `12 noodles liked popular` (`12 국수 ...`). The
    explanation starts each item with the same words, so the model copies them rather than recalls them. The id
    is bare in Korean too: with `12번` between the id and the category, the model had to match two tokens back to
    copy a category, and on an AVX2-only CPU it never learned to (3 seeds; reasons 0.11-0.13 under a gate of
    0.8); bare, as in English, every gate holds."""
    flags = [*([LIKED] if liked else []), *([POPULAR] if popular else [])]
    return " ".join([str(item_id), category, *flags])


# Why an item suits the user: their taste for its category, its popularity, or something new.
REASONS: dict[Language, tuple[str, str, str]] = {
    "en": ("matches your taste", "popular with others", "something new to try"),
    "ko": ("좋아하시는 종류", "인기 메뉴", "새로운 맛"),
}


def reason(liked: bool, popular: bool, language: Language) -> str:
    return REASONS[language][0 if liked else 1 if popular else 2]


def explained_item(item_id: int, category: str, liked: bool, popular: bool, language: Language) -> str:
    """One item of an explanation: its id and category (copied from the prompt's line, in that order), then why."""
    gap = "" if language == "ko" else " "
    return f"{item_id} {category}{gap}({reason(liked, popular, language)})"


def explanation(items: Iterable[tuple[int, str, bool, bool]], language: Language) -> str:
    """Why each (item id, category, liked, popular) suits the user."""
    parts = [explained_item(*item, language) for item in items]
    return f"추천: {', '.join(parts)}." if language == "ko" else f"Picked for you: {'; '.join(parts)}."


# Judging answers: what the quality gates and the tests measure.

def aspects_named(text: str, language: Language) -> set[str]:
    """The aspects whose names `text` contains."""
    return {aspect for aspect, name in ASPECT_NAMES[language].items() if name in text}


_LOOP = re.compile(r"(.{2,30}?)\1{3,}", re.DOTALL)


def degenerate(text: str) -> bool:
    """A repeated-token loop (the same 2-30 characters four or more times in a row), or nothing at all."""
    return not text.strip() or _LOOP.search(text) is not None
