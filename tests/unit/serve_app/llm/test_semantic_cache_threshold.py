"""The semantic cache's default threshold against generated Korean requests, embedded in-process by the model the
Embedder serves: a hit is the same request (precision >= 0.99), and the same request for another city, dish or
number never is. all-MiniLM-L6-v2, the English-only model served before, fails the same checks."""

import json

import numpy as np

from serve_app.llm.semantic_cache import SemanticCacheConfig
from testkit.config import base_config, deployment_entry
from testkit.results import RESULTS
from testkit.similarity_pairs import MIN_PRECISION, NAMED, Pair, pairs, precision_recall, scores

THRESHOLD = SemanticCacheConfig().similarity_threshold
KOREAN = pairs("ko")


def test_the_default_threshold_is_the_configured_and_the_measured_one():
    ingress = deployment_entry(base_config(), "Ingress")
    assert ingress["user_config"]["semantic_cache"]["similarity_threshold"] == THRESHOLD
    assert json.loads((RESULTS / "semantic_similarity.json").read_text())["threshold"] == THRESHOLD


def test_korean_hits_are_the_same_request(embedder):
    score = scores(embedder, KOREAN, cached=True)
    same = np.array([pair.same for pair in KOREAN])
    precision, recall = precision_recall(score, same, THRESHOLD)
    assert precision >= MIN_PRECISION
    assert recall >= 0.15  # a threshold of 1 would be precise too, and never hit
    different = [pair for pair, value in zip(KOREAN, score) if pair.kind == "different_entity" and value >= THRESHOLD]
    assert different == []


def test_another_city_dish_or_number_is_a_miss(embedder):
    named = scores(embedder, [Pair(first, second, False, "different_entity", "") for first, second in NAMED], True)
    assert (named < THRESHOLD).all(), dict(zip(NAMED, named))


def test_minilm_would_answer_one_place_with_anothers(minilm):
    """MiniLM reads most Korean as unknown tokens: different requests score as the same one (21 of the 150 here;
    the first 40 are enough to show it, and MiniLM takes seconds for them on a busy machine)."""
    different = [pair for pair in KOREAN if pair.kind == "different_entity"][:40]
    assert (scores(minilm, different, cached=True) >= THRESHOLD).sum() >= 3
