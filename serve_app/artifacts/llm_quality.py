"""The LLM's quality gates: its answers to held-out task examples, judged against their truth, per language.

The artifact builder reports these figures in the LLM's manifest; the tests measure them again on other
held-out examples, and through the served graphs."""

import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import torch
from transformers import AutoTokenizer, LlamaForCausalLM

from serve_app.artifacts import task_data
from serve_app.common import llm_tasks
from serve_app.common.generation import fit_prompt
from serve_app.common.llm_tasks import Language

BUILDER_SEED = 1
# The floor of each figure; `degenerate` is a share of answers, and its gate is a ceiling.
GATES = {"sentiment_accuracy": 0.9, "strengths_precision": 0.8, "strengths_recall": 0.8,
         "summary_aspects_named": 0.8, "explain_items_named": 0.9, "explain_reasons": 0.8}
MAX_DEGENERATE = 0.0


def _explained(items: list[tuple[int, str, bool, bool]], answer: str, language: Language) -> tuple[int, int]:
    """How many items the answer names, and for how many it gives the right category and reason."""
    named = sum(re.search(rf"(?<!\d){item[0]} ", answer) is not None
                for item in items)
    return named, sum(llm_tasks.explained_item(*item, language) in answer for item in items)


def score(answers: Iterable[tuple[task_data.Example, str]]) -> dict[str, dict[str, float]]:
    """Each language's figures over (example, answer) pairs: micro-averaged, rounded to 3 places."""
    counts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for example, answer in answers:
        count, truth = counts[example.language], example.truth
        count["answers"] += 1
        count["degenerate"] += llm_tasks.degenerate(answer)
        if example.task == "sentiment":
            count["sentiment_right"] += answer.strip() == llm_tasks.sentiment(truth)
            count["sentiment_all"] += 1
        elif example.task == "strengths":
            said = llm_tasks.aspects_named(answer, example.language)
            liked = {aspect for aspect, good in truth.items() if good}
            count["strengths_hit"] += len(said & liked)
            count["strengths_said"] += len(said)
            count["strengths_liked"] += len(liked)
        elif example.task == "summary":
            count["summary_named"] += len(llm_tasks.aspects_named(answer, example.language) & set(truth))
            count["summary_present"] += len(truth)
        else:
            named, right = _explained(truth, answer, example.language)
            count["explain_named"] += named
            count["explain_right"] += right
            count["explain_items"] += len(truth)
    return {language: _figures(count) for language, count in counts.items()}


def _figures(count: dict[str, float]) -> dict[str, float]:
    def ratio(part: str, whole: str) -> float:
        return round(count[part] / count[whole], 3) if count[whole] else 1.0
    return {"sentiment_accuracy": ratio("sentiment_right", "sentiment_all"),
            "strengths_precision": ratio("strengths_hit", "strengths_said"),
            "strengths_recall": ratio("strengths_hit", "strengths_liked"),
            "summary_aspects_named": ratio("summary_named", "summary_present"),
            "explain_items_named": ratio("explain_named", "explain_items"),
            "explain_reasons": ratio("explain_right", "explain_items"),
            "degenerate": ratio("degenerate", "answers"), "answers": int(count["answers"])}


def gates_held(quality: dict[str, dict[str, float]]) -> bool:
    return all(figures[name] >= floor for figures in quality.values() for name, floor in GATES.items()) and \
        all(figures["degenerate"] <= MAX_DEGENERATE for figures in quality.values())


def generate(model_dir: Path, prompts: list[str], max_new_tokens: int = 64, batch: int = 64) -> list[str]:
    """Greedy answers to one-turn chats, as LLMServer would give them (same template, same encoding)."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = LlamaForCausalLM.from_pretrained(model_dir).eval()
    answers = []
    for start in range(0, len(prompts), batch):
        rows = [fit_prompt(task_data.prompt_ids(tokenizer, text), task_data.CONTEXT_TOKENS, max_new_tokens)
                for text in prompts[start:start + batch]]
        width = max(map(len, rows))
        # Left padding: every row's answer starts at the same position.
        ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(row)) + row for row in rows])
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=ids != tokenizer.pad_token_id,
                                 max_new_tokens=max_new_tokens, do_sample=False)
        answers += tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
    return [answer.strip() for answer in answers]


def judge_model(model_dir: Path, seed: int, per_task: int = 50) -> dict[str, dict[str, float]]:
    """The figures of the model in `model_dir` on `per_task` fresh examples of every task and language."""
    seen = {example.prompt for example in task_data.training_examples()}
    examples = task_data.heldout_examples(per_task, seed, seen)
    return score(zip(examples, generate(model_dir, [example.prompt for example in examples])))

