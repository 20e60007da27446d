"""The tiny LLM artifact, loaded with transformers without Ray: captions name their shape, and the built-in
graphs' tasks meet their quality gates on held-out examples."""

from pathlib import Path

import pytest
from tqdm import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer

from serve_app.artifacts import ArtifactLayout, llm_quality, task_data
from serve_app.artifacts.llm import build
from serve_app.common.generation import caption_prompt
from serve_app.common.shapes import SHAPE_LABELS

# Neither the training seed nor the builder's (its figures are in the manifest).
TEST_SEED = 2


@pytest.fixture(scope="module")
def llm_dir(artifacts_dir, tmp_path_factory) -> Path:
    built = ArtifactLayout(root=artifacts_dir).llm
    if (built / "config.json").exists():
        return built
    out = tmp_path_factory.mktemp("llm")
    with tqdm(total=1, desc="llm") as progress:
        build(out, progress)
    return out


@pytest.fixture(scope="module")
def tokenizer(llm_dir):
    return AutoTokenizer.from_pretrained(llm_dir)


@pytest.fixture(scope="module")
def model(llm_dir):
    return AutoModelForCausalLM.from_pretrained(llm_dir).eval()


@pytest.mark.parametrize("label", SHAPE_LABELS)
def test_greedy_caption_names_the_shape(tokenizer, model, label):
    inputs = tokenizer(caption_prompt(label), return_tensors="pt")
    assert inputs["input_ids"][0, 0] == tokenizer.bos_token_id
    generated = model.generate(**inputs, max_new_tokens=32, do_sample=False)
    sentence = tokenizer.decode(generated[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    assert label in sentence


def test_chat_template_ends_with_the_assistant_turn(tokenizer):
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Write a restaurant review."}], tokenize=False, add_generation_prompt=True,
    )
    assert prompt == "<s>User: Write a restaurant review.\nAssistant:"


def test_the_tasks_meet_their_quality_gates_on_examples_neither_training_nor_the_builder_saw(llm_dir):
    quality = llm_quality.judge_model(llm_dir, seed=TEST_SEED)
    for language in ("en", "ko"):
        figures = quality[language]
        failing = {name: figures[name] for name, floor in llm_quality.GATES.items() if figures[name] < floor}
        assert not failing, f"{language}: {failing} under {llm_quality.GATES}"
        assert figures["degenerate"] <= llm_quality.MAX_DEGENERATE, f"{language}: {figures}"


def test_the_judge_fails_answers_that_loop_or_miss():
    examples = task_data.heldout_examples(4, seed=TEST_SEED, seen=set())
    looping = llm_quality.score((example, " The The The The The") for example in examples)
    right = llm_quality.score((example, example.answer) for example in examples)
    for language in ("en", "ko"):
        assert looping[language]["degenerate"] == 1.0 and looping[language]["sentiment_accuracy"] == 0.0
        assert not llm_quality.gates_held({language: looping[language]})
        assert llm_quality.gates_held({language: right[language]}), right[language]
