"""Trains a tiny Llama-architecture causal LM and byte-level BPE tokenizer on generated text.

The corpus is templated restaurant reviews (English and Korean), shape captions for the
image -> classify -> caption graph, and a few chat turns in the format of `CHAT_TEMPLATE`.
"""

import math
import random
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from tqdm import tqdm
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from serve_app.common.generation import caption_prompt
from serve_app.common.shapes import SHAPE_LABELS

BOS, EOS, PAD = "<s>", "</s>", "<pad>"
VOCAB_SIZE, MAX_LEN = 3000, 256
STEPS, BATCH, TRAIN_LEN, LR = 800, 32, 96, 1e-3
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ message['role'] | capitalize }}: {{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)

_NAMES = ("Golden Spoon", "Blue Door Bistro", "Seoul Garden", "Hanok Table", "Mama Rosa",
          "The Hungry Fox", "Jeju Grill", "Olive and Thyme", "Busan Noodle House", "Green Leaf Cafe")
_KO_NAMES = ("한옥식당", "서울가든", "제주그릴", "부산국수집", "황금숟가락", "푸른문", "엄마손밥상", "초록잎카페")
_DISHES = ("kimchi stew", "bibimbap", "bulgogi", "pasta", "pizza", "cold noodles", "fried chicken",
           "pork belly", "tteokbokki", "burger", "ramen", "salad")
_KO_DISHES = ("김치찌개", "비빔밥", "불고기", "파스타", "피자", "냉면", "치킨", "삼겹살", "떡볶이", "라면")
_EN_REVIEWS = {
    "positive": (
        "I had the {dish} at {name} and it was delicious.",
        "{name} serves the best {dish} in town. Friendly staff and quick service.",
        "Great dinner at {name}! The {dish} was fresh and full of flavour.",
        "We loved the {dish} at {name}. I will definitely come back.",
        "The {dish} at {name} was perfect and the prices are fair.",
    ),
    "negative": (
        "The {dish} at {name} was cold and bland. Very disappointing.",
        "I waited an hour at {name} and the {dish} was too salty.",
        "{name} was noisy and the {dish} tasted old. I will not return.",
        "Overpriced {dish} at {name} and the staff were rude.",
    ),
    "neutral": (
        "The {dish} at {name} was okay, nothing special.",
        "{name} is fine for a quick {dish}, but the place is small.",
        "Average {dish} at {name}. Service was slow but polite.",
    ),
}
_KO_REVIEWS = {
    "positive": (
        "{name}에서 먹은 {dish}{eul} 정말 맛있었어요.",
        "{name}의 {dish}{eun} 최고예요. 직원들도 친절하고 서비스가 빨라요.",
        "{name}에서 {dish}{eul} 먹었는데 또 오고 싶어요.",
        "{dish}{ga} 신선하고 양도 많아요. {name} 강력 추천합니다.",
    ),
    "negative": (
        "{name}의 {dish}{eun} 너무 짜고 식어 있었어요. 실망했어요.",
        "{name}에서 한 시간이나 기다렸는데 {dish}{ga} 별로였어요.",
        "{dish}{eun} 비싸기만 하고 맛이 없어요. {name}에 다시는 안 갈 거예요.",
    ),
    "neutral": (
        "{name}의 {dish}{eun} 그냥 평범했어요.",
        "{name}에서 {dish}{eul} 먹었어요. 나쁘지 않았지만 특별하지도 않았어요.",
    ),
}
_COLOURS = ("red", "green", "blue", "yellow", "purple", "black")
_CAPTIONS = (
    "This picture shows a {colour} {label} on a plain background.",
    "A {colour} {label} sits in the middle of a light background.",
    "The image contains one {colour} {label}.",
    "There is a single {label} drawn in {colour}.",
    "A simple drawing of a {colour} {label}.",
)


def _josa(word: str, with_final: str, without_final: str) -> str:
    # Korean particles depend on whether the last syllable ends in a consonant (batchim).
    return with_final if (ord(word[-1]) - 0xAC00) % 28 else without_final


def _review(rng: random.Random) -> str:
    sentiment = rng.choice(tuple(_EN_REVIEWS))
    if rng.random() < 0.5:
        return rng.choice(_EN_REVIEWS[sentiment]).format(name=rng.choice(_NAMES), dish=rng.choice(_DISHES))
    dish = rng.choice(_KO_DISHES)
    return rng.choice(_KO_REVIEWS[sentiment]).format(
        name=rng.choice(_KO_NAMES), dish=dish,
        eul=_josa(dish, "을", "를"), eun=_josa(dish, "은", "는"), ga=_josa(dish, "이", "가"),
    )


def _caption(rng: random.Random, label: str) -> str:
    return rng.choice(_CAPTIONS).format(colour=rng.choice(_COLOURS), label=label)


def _corpus(rng: random.Random, size: int = 12000) -> list[str]:
    """Generated training lines: ~60% reviews, ~30% captions, ~10% chat turns."""
    lines = []
    for _ in range(size):
        kind = rng.random()
        label = rng.choice(SHAPE_LABELS)
        if kind < 0.6:
            lines.append(_review(rng))
        elif kind < 0.9:
            lines.append(f"{caption_prompt(label)} {_caption(rng, label)}")
        elif kind < 0.95:
            lines.append(f"User: Write a restaurant review.\nAssistant: {_review(rng)}")
        else:
            lines.append(f"User: Describe a picture of a {label}.\nAssistant: {_caption(rng, label)}")
    return lines


def _tokenizer(lines: list[str]) -> PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(lines, trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, special_tokens=[PAD, BOS, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    ))
    # Prompts get a leading BOS (vLLM and transformers both encode with special tokens).
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", special_tokens=[(BOS, tokenizer.token_to_id(BOS))],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token=BOS, eos_token=EOS, pad_token=PAD,
        model_max_length=MAX_LEN, chat_template=CHAT_TEMPLATE,
    )


def _batches(ids: list[list[int]], pad: int, rng: random.Random):
    while True:
        rows = [row[:TRAIN_LEN] for row in rng.sample(ids, BATCH)]
        width = max(map(len, rows))
        tokens = torch.full((BATCH, width), pad)
        for i, row in enumerate(rows):
            tokens[i, :len(row)] = torch.tensor(row)
        labels = tokens.masked_fill(tokens == pad, -100)
        yield tokens, labels, tokens != pad


def build(out: Path, progress: tqdm) -> dict:
    """Train tokenizer and model, save both in Hugging Face format into `out`."""
    torch.manual_seed(0)
    rng = random.Random(0)
    lines = _corpus(rng)
    tokenizer = _tokenizer(lines)
    ids = [row + [tokenizer.eos_token_id] for row in tokenizer(lines)["input_ids"]]
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=128, intermediate_size=384, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=MAX_LEN,
        tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    # A higher learning rate (3e-3) or beta2 0.999 left attention unused: a bigram model
    # that never copied the label from the prompt.
    optimiser = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.95), weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * step / STEPS)),
    )
    model.train()
    batches = _batches(ids, tokenizer.pad_token_id, rng)
    for step in range(STEPS):
        tokens, labels, mask = next(batches)
        loss = model(input_ids=tokens, attention_mask=mask, labels=labels).loss
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        if step % 20 == 0 or step == STEPS - 1:
            progress.set_postfix_str(f"llm step {step + 1}/{STEPS} loss {loss.item():.3f}")
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, do_sample=False, max_new_tokens=32,
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return {"final_loss": round(loss.item(), 4), "parameters": sum(p.numel() for p in model.parameters())}
