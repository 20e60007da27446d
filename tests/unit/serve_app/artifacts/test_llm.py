"""The tiny LLM artifact, loaded with transformers without Ray: captions name their shape."""

from pathlib import Path

import pytest
from tqdm import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer

from serve_app.artifacts import ArtifactLayout
from serve_app.artifacts.llm import build
from serve_app.common.generation import caption_prompt
from serve_app.common.shapes import SHAPE_LABELS


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
