"""The bundled all-MiniLM-L6-v2 through Embedder's encode path, without Ray."""

import numpy as np
import pytest

from deployments.embedder import Embedder


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder.func_or_class()


def cosine(embedder: Embedder, first: str, second: str) -> float:
    embeddings, _ = embedder._encode([first, second])
    return float(embeddings[0] @ embeddings[1])


def test_paraphrases_are_close_and_unrelated_sentences_far(embedder):
    assert cosine(embedder, "The pasta was delicious", "The pasta tasted delicious") > 0.8
    assert cosine(embedder, "The pasta was delicious", "The train to Berlin leaves at noon") < 0.5
    assert cosine(embedder, "How do I reset my password?", "Quarterly revenue grew by ten percent") < 0.5


def test_vectors_are_unit_length_with_384_dims(embedder):
    embeddings, _ = embedder._encode(["short", "a somewhat longer sentence about the weather", ""])
    assert embeddings.shape == (3, 384) and embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)


def test_token_counts_are_positive_and_grow_with_length(embedder):
    _, tokens = embedder._encode(["Hello", "Hello there, how are you?",
                                  "Hello there, how are you doing on this fine day?"])
    assert tokens[0] == 3  # [CLS] hello [SEP]
    assert 0 < tokens[0] < tokens[1] < tokens[2]


def test_long_inputs_are_truncated_to_max_seq_length(embedder):
    embeddings, tokens = embedder._encode(["word " * 1000])
    assert tokens == [embedder.model.max_seq_length] and np.isfinite(embeddings).all()


def test_a_text_embeds_the_same_alone_and_padded_in_a_batch(embedder):
    """Batching concurrent callers must not change anyone's vector."""
    alone, _ = embedder._encode(["The pasta was delicious"])
    batched, _ = embedder._encode(["A much longer sentence that forces padding onto the others in this batch",
                                   "The pasta was delicious"])
    np.testing.assert_allclose(batched[1], alone[0], atol=1e-5)


def test_korean_embeds(embedder):
    embeddings, tokens = embedder._encode(["오늘 날씨가 정말 좋네요"])
    assert embeddings.shape == (1, 384) and np.isfinite(embeddings).all() and tokens[0] > 2
