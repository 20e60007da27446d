"""Embedder's encode path on its bundled models, without Ray: use-multilingual-v3 (served) and all-minilm-l6-v2."""

import numpy as np
import pytest

from deployments.embedder import Embedder


def cosine(embedder: Embedder, first: str, second: str) -> float:
    embeddings, _ = embedder._encode([first, second])
    return float(embeddings[0] @ embeddings[1])


def test_paraphrases_are_close_and_unrelated_sentences_far(embedder):
    assert cosine(embedder, "The pasta was delicious", "The pasta tasted delicious") > 0.8
    assert cosine(embedder, "The pasta was delicious", "The train to Berlin leaves at noon") < 0.5
    assert cosine(embedder, "How do I reset my password?", "Quarterly revenue grew by ten percent") < 0.5
    assert cosine(embedder, "비밀번호를 어떻게 바꾸나요?", "비밀번호 변경하는 방법 알려주세요") > 0.6
    assert cosine(embedder, "비밀번호를 어떻게 바꾸나요?", "이번 분기 매출이 10% 늘었습니다") < 0.3


def test_vectors_are_unit_length_with_512_dims(embedder):
    embeddings, _ = embedder._encode(["short", "a somewhat longer sentence about the weather", "", "오늘 날씨가 정말 좋네요"])
    assert embeddings.shape == (4, 512) and embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    assert embedder.describe().name == "use-multilingual-v3"
    assert embedder.describe().outputs[0].shape == [-1, 512]


def test_token_counts_are_sentencepiece_tokens(embedder):
    texts = ["Hello", "Hello there, how are you?", "오늘 날씨가 정말 좋네요"]
    _, tokens = embedder._encode(texts)
    assert tokens[0] == 3  # <s> ▁Hello </s>
    assert tokens == [len(embedder.encoder.tokenizer.encode(text)) for text in texts]
    assert tokens[0] < tokens[1]


def test_long_inputs_are_truncated_to_max_tokens(embedder):
    long = "서울 날씨 " * 1000
    embeddings, tokens = embedder._encode([long])
    assert tokens == [embedder.encoder.max_tokens] and np.isfinite(embeddings).all()
    # The vector stands for the first max_tokens tokens: what follows them changes nothing.
    changed, _ = embedder._encode([long + "전혀 다른 이야기"])
    np.testing.assert_allclose(changed, embeddings, atol=1e-6)


def test_a_text_embeds_the_same_alone_and_in_a_batch(embedder):
    """Batching concurrent callers must not change anyone's vector."""
    alone, _ = embedder._encode(["The pasta was delicious"])
    batched, _ = embedder._encode(["A much longer sentence that forces padding onto the others in this batch",
                                   "The pasta was delicious", "파스타가 맛있었어요"])
    np.testing.assert_allclose(batched[1], alone[0], atol=1e-5)


def test_minilm_stays_selectable(minilm):
    embeddings, tokens = minilm._encode(["Hello", "word " * 1000])
    assert embeddings.shape == (2, 384) and minilm.describe().name == "all-minilm-l6-v2"
    assert tokens == [3, 256]  # [CLS] hello [SEP]; cut to max_seq_length
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)


def test_an_unknown_model_is_refused():
    with pytest.raises(ValueError, match="use-multilingual-v3"):
        Embedder.func_or_class(model="text-embedding-3-small")
