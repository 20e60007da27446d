"""Pairs of user requests in Korean and English, generated from templates (seeded): the same request reworded
(politeness, word order, particles, spacing, punctuation), the same template with a different entity or number
("서울 날씨" / "부산 날씨"), and unrelated requests. The semantic cache's similarity threshold is chosen on them
(benchmarks/semantic_similarity.py) and tested against them (tests/unit/serve_app/llm/test_semantic_cache_threshold.py)."""

import random
import re
from dataclasses import dataclass

import numpy as np

from deployments.embedder import Embedder
from serve_app.common.hangul import final_consonant
from serve_app.llm.semantic_cache import cache_text, numbers_in

# The same request reworded (same template) or asked another way (another template); then two different ones.
SAME_KINDS = ("rewording", "paraphrase")
KINDS = SAME_KINDS + ("different_entity", "unrelated")

_CITIES = ["서울", "부산", "대구", "인천", "광주", "대전", "울산", "제주", "수원", "전주", "강릉", "춘천", "포항", "여수"]
_FOODS = ["김치찌개", "냉면", "비빔밥", "불고기", "삼겹살", "떡볶이", "된장찌개", "칼국수", "순두부찌개", "갈비탕",
          "짜장면", "닭갈비", "파전", "삼계탕"]
_PLACES = ["경복궁", "남산타워", "해운대", "롯데월드", "명동", "인천공항", "서울역", "동대문시장", "광안리", "코엑스",
           "창덕궁", "국립중앙박물관", "에버랜드", "한강공원"]
_WORDS = ["사랑", "고양이", "우정", "행복", "자동차", "도서관", "바다", "하늘", "친구", "선생님", "병원", "기차", "나무",
          "우산"]
_CONCEPTS = ["인공지능", "블록체인", "광합성", "인플레이션", "양자역학", "민주주의", "기후 변화", "머신러닝", "상대성 이론",
             "미세먼지", "금리", "반도체", "메타버스", "탄소 중립"]
_CURRENCIES = ["달러", "엔화", "유로", "위안화", "파운드", "스위스 프랑", "호주 달러", "캐나다 달러"]
_HOURS, _PEOPLE = [str(hour) for hour in range(5, 11)], [str(people) for people in range(2, 9)]
_ORDERS = [str(number) for number in range(100000, 999999, 37013)]

# Each request: its slots' values and the ways of asking for it. {slot:을} writes the slot with the particle its
# last syllable takes (을/를, 이/가, 은/는, 으로/로); two slots of one kind are <kind> and <kind>2.
KOREAN = {
    "weather": ({"city": _CITIES}, [
        "{city} 날씨 어때요?", "오늘 {city} 날씨 알려줘", "{city}의 오늘 날씨가 어떤가요?", "{city} 날씨 좀 알려주세요",
        "오늘 {city} 날씨는 어때?", "{city} 오늘 날씨 어떻습니까?", "지금 {city} 날씨 어때"]),
    "restaurant": ({"city": _CITIES, "food": _FOODS}, [
        "{city} {food} 맛집 추천해줘", "{city}에서 {food} 맛있는 집 알려주세요", "{food} 맛집 {city}에 있나요?",
        "{city} {food} 잘하는 곳 추천 부탁드려요", "{city}에 {food} 맛집 어디예요?", "{city}에서 {food} 먹을 만한 곳 있어?"]),
    "directions": ({"place": _PLACES}, [
        "{place}까지 가는 길 알려줘", "{place}에 어떻게 가요?", "{place} 가는 방법 알려주세요",
        "여기서 {place}까지 어떻게 가야 하나요?", "{place:으로} 가는 길 좀 알려주세요", "{place} 어떻게 가?"]),
    "translate": ({"word": _WORDS}, [
        "{word:을} 영어로 번역해줘", "{word:은} 영어로 뭐예요?", "{word:을} 영어로 어떻게 말해요?",
        "영어로 {word:이} 뭐야?", "{word} 영어로 뭐라고 해요?", "{word:을} 영어로 번역해 주세요"]),
    "recipe": ({"food": _FOODS}, [
        "{food} 만드는 법 알려줘", "{food} 레시피 알려주세요", "{food:은} 어떻게 만들어요?",
        "집에서 {food} 만드는 방법이 궁금해요", "{food} 요리법 좀 알려줄래?", "{food} 만드는 방법 알려 주세요"]),
    "definition": ({"concept": _CONCEPTS}, [
        "{concept:이} 뭐야?", "{concept}에 대해 설명해줘", "{concept:이} 무엇인지 알려주세요",
        "{concept:은} 무슨 뜻이에요?", "{concept}에 대해 쉽게 설명해 주세요", "{concept:이} 뭔지 설명 좀 해줘"]),
    "exchange_rate": ({"currency": _CURRENCIES}, [
        "{currency} 환율 알려줘", "오늘 {currency} 환율이 얼마예요?", "지금 {currency} 환율 어떻게 돼요?",
        "{currency} 환율 좀 확인해 주세요", "오늘 {currency} 환율은 얼마인가요?"]),
    "opening_hours": ({"place": _PLACES}, [
        "{place} 영업시간 알려줘", "{place} 운영 시간이 어떻게 되나요?", "{place:은} 몇 시부터 몇 시까지 해요?",
        "{place} 운영시간 좀 알려주세요", "{place} 영업 시간 어떻게 돼?"]),
    "reservation": ({"hour": _HOURS, "people": _PEOPLE}, [
        "내일 저녁 {hour}시에 {people}명 예약 가능한가요?", "내일 저녁 {hour}시 {people}명 예약하고 싶어요",
        "{people}명이서 내일 저녁 {hour}시에 예약되나요?", "내일 저녁 {hour}시에 {people}명 자리 있어요?",
        "내일 저녁 {hour}시로 {people}명 예약해 주세요"]),
    "order_status": ({"order": _ORDERS}, [
        "주문번호 {order} 배송 조회해줘", "{order} 주문 배송 어디쯤 왔어요?", "주문번호 {order}번 배송 상태 알려주세요",
        "주문 {order} 언제 도착해요?", "주문번호 {order} 배송 조회 부탁드립니다"]),
    "train": ({"city": _CITIES, "city2": _CITIES}, [
        "{city}에서 {city2}까지 KTX 시간표 알려줘", "{city}에서 {city2} 가는 KTX 몇 시에 있어요?",
        "{city}발 {city2}행 KTX 시간 알려주세요", "{city}에서 {city2}까지 기차 시간 좀 알려줘"]),
}

_EN_CITIES = ["Seoul", "Busan", "Tokyo", "Paris", "London", "Berlin", "Madrid", "Rome", "Chicago", "Boston", "Sydney",
              "Toronto", "Lisbon", "Vienna"]
_EN_FOODS = ["ramen", "pizza", "sushi", "tacos", "pho", "dumplings", "curry", "burgers", "bibimbap", "paella",
             "falafel", "croissants", "barbecue", "noodles"]
_EN_PLACES = ["the Louvre", "Central Park", "the train station", "the airport", "the city museum", "the Eiffel Tower",
              "the public library", "the aquarium", "the zoo", "the stadium", "the old town", "the harbor"]
_EN_WORDS = ["love", "cat", "friendship", "happiness", "car", "library", "ocean", "sky", "friend", "teacher",
             "hospital", "train", "tree", "umbrella"]
_EN_LANGUAGES = ["Spanish", "French", "German", "Japanese", "Korean", "Italian"]
_EN_CONCEPTS = ["artificial intelligence", "blockchain", "photosynthesis", "inflation", "quantum mechanics",
                "democracy", "climate change", "machine learning", "relativity", "interest rates", "semiconductors",
                "carbon neutrality"]
_EN_CURRENCIES = ["the dollar", "the yen", "the euro", "the yuan", "the pound", "the Swiss franc"]

ENGLISH = {
    "weather": ({"city": _EN_CITIES}, [
        "What's the weather like in {city}?", "How is the weather in {city} today?", "Tell me the weather in {city}",
        "{city} weather today?", "Can you tell me today's weather in {city}?",
        "what is the weather in {city} right now"]),
    "restaurant": ({"city": _EN_CITIES, "food": _EN_FOODS}, [
        "Recommend a good {food} place in {city}", "Where can I get good {food} in {city}?",
        "Best {food} restaurants in {city}?", "Any good {food} spots in {city}?",
        "Can you suggest a {food} restaurant in {city}?"]),
    "directions": ({"place": _EN_PLACES}, [
        "How do I get to {place}?", "Directions to {place}, please", "What's the best way to get to {place}?",
        "Can you show me the way to {place}?", "how do i get to {place} from here"]),
    "translate": ({"word": _EN_WORDS, "language": _EN_LANGUAGES}, [
        "How do you say {word} in {language}?", "Translate {word} into {language}", "What is {word} in {language}?",
        "What's the {language} word for {word}?", "Please translate the word {word} to {language}"]),
    "recipe": ({"food": _EN_FOODS}, [
        "How do I make {food}?", "Give me a recipe for {food}", "What's a good {food} recipe?",
        "How to cook {food} at home?", "Can you tell me how to make {food}?"]),
    "definition": ({"concept": _EN_CONCEPTS}, [
        "What is {concept}?", "Explain {concept} to me", "Can you explain what {concept} is?",
        "What does {concept} mean?", "Explain {concept} in simple terms"]),
    "exchange_rate": ({"currency": _EN_CURRENCIES}, [
        "What's the exchange rate for {currency} today?", "How much is {currency} worth right now?",
        "Tell me the current exchange rate of {currency}", "{currency} exchange rate today?"]),
    "reservation": ({"hour": _HOURS, "people": _PEOPLE}, [
        "Can I book a table for {people} at {hour} pm tomorrow?",
        "I'd like a reservation for {people} people at {hour} pm tomorrow",
        "Is a table for {people} free tomorrow at {hour} pm?",
        "Book a table for {people} tomorrow at {hour} pm, please"]),
    "order_status": ({"order": _ORDERS}, [
        "Where is my order {order}?", "Track order number {order}", "What's the delivery status of order {order}?",
        "When will order {order} arrive?"]),
    "train": ({"city": _EN_CITIES, "city2": _EN_CITIES}, [
        "Train times from {city} to {city2}", "When do trains leave {city} for {city2}?",
        "Show me the train schedule from {city} to {city2}", "What trains go from {city} to {city2} today?"]),
}

TEMPLATES = {"ko": KOREAN, "en": ENGLISH}

# A particle's two forms: after a final consonant, and after a vowel (으로 takes 로 after ㄹ too).
_PARTICLES = {"을": ("을", "를"), "이": ("이", "가"), "은": ("은", "는"), "으로": ("으로", "로")}
_SLOT = re.compile(r"\{(\w+)(?::(\w+))?\}")


@dataclass(frozen=True)
class Pair:
    """Two requests and whether they are the same one (a cache may answer the second with the first's answer)."""

    first: str
    second: str
    same: bool
    kind: str
    language: str


def _particle(word: str, particle: str) -> str:
    final = final_consonant(word)
    consonant, vowel = _PARTICLES[particle]
    return consonant if final and not (particle == "으로" and final == 8) else vowel


def _fill(template: str, values: dict[str, str], particles: bool = True) -> str:
    def slot(match: re.Match) -> str:
        name, particle = match.groups()
        return values[name] + (_particle(values[name], particle) if particle and particles else "")

    return _SLOT.sub(slot, template)


# Interchangeable ways of ending (or spacing) the same request: politeness levels, and spacings users write.
_SAME = {
    "ko": [["알려줘", "알려주세요", "알려 주세요", "알려줄래?", "알려 주시겠어요?", "알려줘요"],
           ["추천해줘", "추천해 주세요", "추천 부탁드려요", "추천해 줄래?"],
           ["어때요?", "어때?", "어떤가요?", "어떻습니까?"], ["번역해줘", "번역해 주세요", "번역 부탁해요"],
           ["설명해줘", "설명해 주세요", "설명 부탁드립니다"], ["뭐예요?", "뭐야?", "무엇인가요?", "뭔가요?"],
           ["있어요?", "있나요?", "있어?", "있습니까?"], ["가능한가요?", "가능해요?", "될까요?"],
           ["영업시간", "영업 시간"], ["운영 시간", "운영시간"], ["어떻게 돼요?", "어떻게 되나요?", "어떻게 돼?"]],
    "en": [["What's", "What is"], ["I'd like", "I would like"], ["Can you", "Could you"], ["How do I", "How can I"],
           ["Tell me", "Please tell me"], ["right now", "now"], ["today", "for today"]],
}


_MOVABLE = re.compile(r"^(오늘|지금|내일|여기서|.+에서|.+까지|.+에|\d+시에|\d+명이서)$")


def _movable(text: str) -> list[int]:
    """The positions of the words that can swap with the next one, which is not the verb at the end."""
    words = text.split(" ")
    return [at for at in range(len(words) - 2) if _MOVABLE.match(words[at])]


def _reword(template: str, values: dict[str, str], language: str, rng: random.Random) -> str:
    """The same request as `template` asks, as a user may write it instead: another politeness level or
    spacing, particles dropped or two phrases swapped (Korean), other case, a question mark added or taken."""
    text = _fill(template, values, particles=rng.random() < 0.5)
    for _ in range(rng.choice((1, 2))):
        choice = rng.random()
        variants = [(found, new) for group in _SAME[language] for old in group
                    if (found := re.search(rf"(?<!\S){re.escape(old)}(?![^\s?,])", text))
                    for new in group if new != old]
        if choice < 0.4 and variants:
            found, new = rng.choice(variants)
            text = text[:found.start()] + new + text[found.end():]
        elif choice < 0.6 and language == "ko" and (movable := _movable(text)):
            # Korean marks roles with particles, so a time, place or marked phrase moves past the next one.
            words, at = text.split(" "), rng.choice(movable)
            words[at], words[at + 1] = words[at + 1], words[at]
            text = " ".join(words)
        elif choice < 0.7 and language == "ko" and " " in text:
            at = rng.choice([i for i, char in enumerate(text) if char == " "])
            text = text[:at] + text[at + 1:]
        elif choice < 0.65 and language == "en":
            text = text.lower()
        else:
            text = text[:-1] if text.endswith("?") else text + "?"
    return text


def _values(slots: dict[str, list[str]], rng: random.Random) -> dict[str, str]:
    values = {}
    for name, choices in slots.items():
        values[name] = rng.choice([choice for choice in choices if choice not in values.values()])
    return values


def pairs(language: str, per_kind: int = 150, seed: int = 0) -> list[Pair]:
    """`per_kind` distinct pairs of each of KINDS in `language` ("ko" or "en"), the same for the same seed."""
    templates, rng = TEMPLATES[language], random.Random(seed)
    intents = sorted(templates)
    made: dict[str, dict[tuple[str, str], Pair]] = {kind: {} for kind in KINDS}
    while any(len(found) < per_kind for found in made.values()):
        kind = rng.choice([kind for kind in KINDS if len(made[kind]) < per_kind])
        intent = rng.choice(intents)
        slots, forms = templates[intent]
        values = _values(slots, rng)
        first_form, other_form = rng.sample(forms, 2)
        first = _fill(first_form, values)
        if kind == "rewording":
            second = _reword(first_form, values, language, rng)
        elif kind == "paraphrase":
            second = _reword(other_form, values, language, rng) if rng.random() < 0.5 else _fill(other_form, values)
        elif kind == "different_entity":
            # Mostly word for word the same request but for one entity or number: the hardest to tell apart.
            changed = rng.choice(sorted(slots))
            others = {**values, changed: rng.choice([v for v in slots[changed] if v not in values.values()])}
            second = _fill(first_form if rng.random() < 0.7 else other_form, others)
        else:
            other_slots, other_forms = templates[rng.choice([name for name in intents if name != intent])]
            second = _fill(rng.choice(other_forms), _values(other_slots, rng))
        if first != second:
            made[kind].setdefault((first, second), Pair(first, second, kind in SAME_KINDS, kind, language))
    return [pair for kind in KINDS for pair in made[kind].values()]


def precision_recall(scores: np.ndarray, same: np.ndarray, threshold: float) -> tuple[float, float]:
    """Of "similarity >= threshold means the same request": the share of its yeses that are right (1.0 when it
    says no yes) and the share of the same-request pairs it finds."""
    said = scores >= threshold
    right = int((said & same).sum())
    return (right / int(said.sum()) if said.any() else 1.0), right / int(same.sum())


MIN_PRECISION = 0.99
# The kind of pair the cache must never confuse, as the users who asked for it wrote them.
NAMED = [("서울 날씨", "부산 날씨"), ("김치찌개 맛집", "냉면 맛집"), ("서울 날씨 어때요?", "부산 날씨 어때요?"),
         ("서울 김치찌개 맛집 추천해줘", "서울 냉면 맛집 추천해줘"),
         ("내일 저녁 7시에 4명 예약 가능한가요?", "내일 저녁 8시에 4명 예약 가능한가요?"),
         ("What's the weather like in Seoul?", "What's the weather like in Busan?")]


def scores(embedder: Embedder, pairs_: list[Pair], cached: bool) -> np.ndarray:
    """Cosine of each pair's two texts; as the cache compares them, -1 for texts whose numbers differ (other keys)."""
    prepare = cache_text if cached else str
    first, _ = embedder._encode([prepare(pair.first) for pair in pairs_])
    second, _ = embedder._encode([prepare(pair.second) for pair in pairs_])
    cosine = (first * second).sum(axis=1)
    if not cached:
        return cosine
    return np.where([numbers_in(pair.first) == numbers_in(pair.second) for pair in pairs_], cosine, -1.0)
