"""Trains a tiny Llama-architecture causal LM and byte-level BPE tokenizer on generated text.

Two kinds of training rows: plain text (templated restaurant reviews in English and Korean, shape captions,
a few chat turns), learned whole; and the built-in graphs' tasks, learned on the answer only: review
analysis and explanations as chat turns (serve_app/common/llm_tasks.py), captions after their prompt for
the image -> classify -> caption graph. The tasks are then judged on held-out examples (llm_quality.py)
and the figures go into the manifest.
"""

import math
import random
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from tqdm import tqdm
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from serve_app.artifacts import llm_quality, task_data
from serve_app.common.generation import caption_prompt, fit_prompt
from serve_app.common.shapes import SHAPE_LABELS

BOS, EOS, PAD = "<s>", "</s>", "<pad>"
VOCAB_SIZE, MAX_LEN = 4000, task_data.CONTEXT_TOKENS
STEPS, BATCH, LR, PLAIN_LINES = 1500, 32, 1e-3, 3000
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ message['role'] | capitalize }}: {{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)

_COLOURS = ("red", "green", "blue", "yellow", "purple", "black")
_CAPTIONS = (
    "This picture shows a {colour} {label} on a plain background.",
    "A {colour} {label} sits in the middle of a light background.",
    "The image contains one {colour} {label}.",
    "There is a single {label} drawn in {colour}.",
    "A simple drawing of a {colour} {label}.",
)


def _caption(rng: random.Random, label: str) -> str:
    return rng.choice(_CAPTIONS).format(colour=rng.choice(_COLOURS), label=label)


def _corpus(rng: random.Random, size: int = PLAIN_LINES) -> list[str]:
    """Generated training lines: ~60% reviews, ~30% captions, ~10% chat turns."""
    lines = []
    for _ in range(size):
        kind = rng.random()
        label = rng.choice(SHAPE_LABELS)
        if kind < 0.6:
            lines.append(task_data.any_review(rng))
        elif kind < 0.9:
            lines.append(f"{caption_prompt(label)} {_caption(rng, label)}")
        elif kind < 0.95:
            lines.append(f"User: Write a restaurant review.\nAssistant: {task_data.any_review(rng)}")
        else:
            lines.append(f"User: Describe a picture of a {label}.\nAssistant: {_caption(rng, label)}")
    return lines


def _tokenizer(lines: list[str]) -> PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.BPE())
    # Digits one by one: an explanation copies item ids from its prompt, and ten digit tokens are learned
    # well where a thousand number tokens each seen a few times are not.
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                       pre_tokenizers.ByteLevel(add_prefix_space=False)])
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


def _rows(tokenizer: PreTrainedTokenizerFast, lines: list[str], tasks: list[task_data.Example],
          captions: list[tuple[str, str]]) -> list[tuple[list[int], list[int]]]:
    """(token ids, labels) per row: a plain line learned whole; a task (a chat turn) and a caption (after
    its prompt) learned on the answer only."""
    rows = [(ids + [tokenizer.eos_token_id],) * 2 for ids in tokenizer(lines)["input_ids"]]
    rows += [_answer_row(tokenizer, task_data.prompt_ids(tokenizer, example.prompt), example.answer)
             for example in tasks]
    rows += [_answer_row(tokenizer, tokenizer(caption_prompt(label))["input_ids"], caption)
             for label, caption in captions]
    return rows


def _answer_row(tokenizer: PreTrainedTokenizerFast, prompt: list[int], answer: str) -> tuple[list[int], list[int]]:
    ids = tokenizer.encode(f" {answer}", add_special_tokens=False) + [tokenizer.eos_token_id]
    prompt = fit_prompt(prompt, MAX_LEN, len(ids))  # as served (truncate_prompt)
    return prompt + ids, [-100] * len(prompt) + ids


def _batches(rows: list[tuple[list[int], list[int]]], pad: int, rng: random.Random):
    # Rows drawn at random, padded to the longest: batches of rows of one length (half the padding) never
    # learned to copy an item id into an explanation.
    while True:
        picked = rng.sample(rows, BATCH)
        width = max(len(ids) for ids, _ in picked)
        tokens = torch.full((BATCH, width), pad)
        labels = torch.full((BATCH, width), -100)
        for i, (ids, targets) in enumerate(picked):
            tokens[i, :len(ids)] = torch.tensor(ids)
            labels[i, :len(targets)] = torch.tensor(targets)
        yield tokens, labels, tokens != pad


def build(out: Path, progress: tqdm) -> dict:
    """Train tokenizer and model, judge the tasks on held-out examples, save both in Hugging Face format."""
    torch.manual_seed(0)
    rng = random.Random(0)
    lines = _corpus(rng)
    tasks = task_data.training_examples()
    # The caption graph's task: copy the label from the prompt into a sentence.
    captions = [(label, _caption(rng, label)) for label in rng.choices(SHAPE_LABELS, k=task_data.TRAINING_PER_TASK)]
    tokenizer = _tokenizer(lines + [f"{example.prompt} {example.answer}" for example in tasks])
    rows = _rows(tokenizer, lines, tasks, captions)
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
    batches = _batches(rows, tokenizer.pad_token_id, rng)
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
    progress.set_postfix_str("llm: judging the tasks on held-out examples")
    quality = llm_quality.judge_model(out, seed=llm_quality.BUILDER_SEED)
    return {"final_loss": round(loss.item(), 4), "parameters": sum(p.numel() for p in model.parameters()),
            "quality": quality, "gates_held": llm_quality.gates_held(quality)}
