"""Generated restaurants, reviews and ranked items, each knowing its truth: which aspects a review mentions
and whether it likes them. The LLM trains on one seed's examples and is judged on others it never saw."""

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from serve_app.common import llm_tasks
from serve_app.common.generation import chat_ids
from serve_app.common.hangul import josa
from serve_app.common.llm_tasks import ASPECTS, CATEGORY_NAMES, NEW_CATEGORY, Language, Task

TRAINING_SEED, TRAINING_PER_TASK = 0, 1500
# The LLM's context window (max_position_embeddings, and vLLM's max_model_len in serve_config.yaml).
CONTEXT_TOKENS = 256
NAMES: dict[Language, tuple[str, ...]] = {
    "en": ("Golden Spoon", "Blue Door Bistro", "Seoul Garden", "Hanok Table", "Mama Rosa", "The Hungry Fox",
           "Jeju Grill", "Olive and Thyme", "Busan Noodle House", "Green Leaf Cafe"),
    "ko": ("한옥식당", "서울가든", "제주그릴", "부산국수집", "황금숟가락", "푸른문", "엄마손밥상", "초록잎카페"),
}
DISHES: dict[Language, tuple[str, ...]] = {
    "en": ("kimchi stew", "bibimbap", "bulgogi", "pasta", "pizza", "cold noodles", "fried chicken", "pork belly",
           "tteokbokki", "burger", "ramen", "salad"),
    "ko": ("김치찌개", "비빔밥", "불고기", "파스타", "피자", "냉면", "치킨", "삼겹살", "떡볶이", "라면"),
}
# (aspect, liked) -> phrases; `{dish}` and, in Korean, `{ga}` (이/가) are filled per review.
PHRASES: dict[Language, dict[tuple[str, bool], tuple[str, ...]]] = {
    "en": {
        ("food", True): ("the {dish} was delicious", "the {dish} was fresh and full of flavour",
                         "we loved the {dish}", "the {dish} was perfect"),
        ("food", False): ("the {dish} was cold and bland", "the {dish} was too salty", "the {dish} tasted old",
                          "the {dish} was greasy"),
        ("service", True): ("the staff were friendly", "service was quick", "our waiter was very kind"),
        ("service", False): ("the staff were rude", "we waited an hour for service", "service was slow"),
        ("price", True): ("the prices are fair", "it is good value for money", "the bill was cheap"),
        ("price", False): ("it is overpriced", "the prices are far too high", "the bill was a shock"),
        ("ambience", True): ("the room is cosy", "the place is calm and pretty", "the music was lovely"),
        ("ambience", False): ("it was very noisy", "the tables are cramped", "the room was dirty"),
    },
    "ko": {
        ("food", True): ("{dish}{ga} 정말 맛있었어요", "{dish}{ga} 신선하고 맛있어요", "{dish}{ga} 최고예요"),
        ("food", False): ("{dish}{ga} 너무 짜고 식어 있었어요", "{dish} 맛이 별로였어요", "{dish}{ga} 느끼했어요"),
        ("service", True): ("직원들이 친절해요", "서비스가 빨라요", "사장님이 정말 친절하세요"),
        ("service", False): ("직원이 불친절했어요", "한 시간이나 기다렸어요", "서비스가 너무 느려요"),
        ("price", True): ("가격이 합리적이에요", "가성비가 좋아요", "가격이 저렴해요"),
        ("price", False): ("가격이 너무 비싸요", "양에 비해 비싸요", "가격이 부담스러워요"),
        ("ambience", True): ("분위기가 아늑해요", "매장이 깨끗하고 예뻐요", "음악이 좋아요"),
        ("ambience", False): ("너무 시끄러워요", "자리가 좁아요", "매장이 지저분해요"),
    },
}


@dataclass
class Restaurant:
    """Reviews in one language, and what they say: aspect -> liked, for every aspect some review mentions."""

    language: Language
    reviews: list[str]
    opinions: dict[str, bool] = field(default_factory=dict)


def _clause(rng: random.Random, language: Language, aspect: str, liked: bool) -> str:
    dish = rng.choice(DISHES[language])
    return rng.choice(PHRASES[language][aspect, liked]).format(dish=dish, ga=josa(dish, "이", "가"))


def review(rng: random.Random, language: Language, opinions: dict[str, bool], name: str) -> str:
    """One review mentioning each aspect of `opinions` (one or two) as liked or not."""
    clauses = [_clause(rng, language, aspect, liked) for aspect, liked in opinions.items()]
    if language == "ko":
        return f"{name}: {'. '.join(clauses)}." if rng.random() < 0.5 else f"{'. '.join(clauses)}."
    joined = clauses[0] if len(clauses) == 1 else \
        f"{clauses[0]}{' and ' if len(set(opinions.values())) == 1 else ', but '}{clauses[1]}"
    return f"At {name}, {joined}." if rng.random() < 0.5 else f"{joined[0].upper()}{joined[1:]}."


def restaurant(rng: random.Random, language: Language, reviews: int) -> Restaurant:
    """A restaurant with a random sentiment, 1-4 aspects, and `reviews` reviews of one or two aspects each."""
    mood = rng.choice(llm_tasks.SENTIMENTS)
    aspects = rng.sample(ASPECTS, rng.randint(2 if mood == "mixed" else 1, len(ASPECTS)))
    profile = {aspect: mood == "positive" if mood != "mixed" else rng.random() < 0.5 for aspect in aspects}
    if mood == "mixed" and len(set(profile.values())) == 1:
        profile[aspects[0]] = not profile[aspects[0]]
    name = rng.choice(NAMES[language])
    shown = Restaurant(language, [])
    for _ in range(reviews):
        mentioned = rng.sample(aspects, min(len(aspects), rng.choice((1, 1, 2))))
        opinions = {aspect: profile[aspect] for aspect in mentioned}
        shown.reviews.append(review(rng, language, opinions, name))
        shown.opinions.update(opinions)
    return shown


def ranked_items(rng: random.Random, language: Language, k: int = 3) -> list[tuple[int, str, bool, bool]]:
    """`k` ranked items as (id, category, liked, popular), the way the recommend graph describes them."""
    items = []
    for item_id in rng.sample(range(1, 1000), k):
        category = NEW_CATEGORY[language] if rng.random() < 0.05 else rng.choice(CATEGORY_NAMES[language])
        items.append((item_id, category, rng.random() < 0.5, rng.random() < 0.4))
    return items


@dataclass(frozen=True)
class Example:
    """One user turn and the answer the LLM should give; `truth` is what judging the answer needs."""

    task: Task
    language: Language
    prompt: str
    answer: str
    truth: object
    reviews: tuple[str, ...] = ()


def examples(rng: random.Random, language: Language, task: Task, max_reviews: int = 5) -> Iterator[Example]:
    """Endless examples of `task` in `language`, each with one to `max_reviews` reviews."""
    while True:
        if task == "explain":
            items = ranked_items(rng, language)
            lines = "\n".join(llm_tasks.item_line(*item) for item in items)
            yield Example(task, language, llm_tasks.prompt("explain", items=lines),
                          llm_tasks.explanation(items, language), items)
            continue
        shown = restaurant(rng, language, rng.randint(1, max_reviews))
        yield Example(task, language, llm_tasks.prompt(task, reviews="\n".join(shown.reviews)),
                      llm_tasks.answer(task, shown.opinions, language), shown.opinions, tuple(shown.reviews))


TASKS: tuple[Task, ...] = ("sentiment", "summary", "strengths", "explain")


def training_examples(per_task: int = TRAINING_PER_TASK, seed: int = TRAINING_SEED) -> list[Example]:
    """`per_task` examples of every task in every language."""
    rng = random.Random(seed)
    return [example for language in llm_tasks.LANGUAGES for task in TASKS
            for _, example in zip(range(per_task), examples(rng, language, task))]


def heldout_examples(per_task: int, seed: int, seen: set[str]) -> list[Example]:
    """`per_task` examples of every task and language whose prompt is not in `seen` (the training prompts)."""
    rng = random.Random(seed)
    picked = []
    for language in llm_tasks.LANGUAGES:
        for task in TASKS:
            fresh = (example for example in examples(rng, language, task) if example.prompt not in seen)
            picked.extend(example for _, example in zip(range(per_task), fresh))
    return picked


def prompt_ids(tokenizer, prompt: str) -> list[int]:
    """A one-turn chat's token ids, exactly as LLMServer encodes them."""
    return chat_ids(tokenizer, [{"role": "user", "content": prompt}])


def any_review(rng: random.Random) -> str:
    """A review in either language, of one or two aspects liked or not: plain text for the language model."""
    language = rng.choice(llm_tasks.LANGUAGES)
    opinions = {aspect: rng.random() < 0.5 for aspect in rng.sample(ASPECTS, rng.choice((1, 2)))}
    return review(rng, language, opinions, rng.choice(NAMES[language]))
