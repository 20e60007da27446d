"""SemanticCache: hits by cosine similarity under one key only, LRU eviction, TTL and stats."""

import numpy as np
import pytest
from pydantic import ValidationError

from serve_app.llm.semantic_cache import SemanticCache, SemanticCacheConfig

KEY = ("tiny-llm", 0.0, 32)


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rotated(angle_deg: float) -> list[float]:
    """A 3-d vector at `angle_deg` from (1, 0, 0): its cosine with it is cos(angle)."""
    angle = np.radians(angle_deg)
    return [float(np.cos(angle)), float(np.sin(angle)), 0.0]


def cache(clock: FakeClock | None = None, **overrides) -> SemanticCache:
    return SemanticCache(SemanticCacheConfig(**{"enabled": True, **overrides}), clock=clock or FakeClock())


def test_hit_above_threshold_and_miss_below():
    semantic = cache(similarity_threshold=0.95)
    semantic.store(KEY, [2.0, 0.0, 0.0], "answer")  # not unit length: the cache normalizes
    assert semantic.lookup(KEY, [1.0, 0.0, 0.0]) == "answer"
    assert semantic.lookup(KEY, rotated(15)) == "answer"  # cosine 0.966
    assert semantic.lookup(KEY, rotated(20)) is None  # cosine 0.940
    assert semantic.lookup(KEY, [-1.0, 0.0, 0.0]) is None


def test_most_similar_entry_wins():
    semantic = cache(similarity_threshold=0.9)
    semantic.store(KEY, rotated(0), "first")
    semantic.store(KEY, rotated(20), "second")
    assert semantic.lookup(KEY, rotated(5)) == "first"
    assert semantic.lookup(KEY, rotated(15)) == "second"


def test_threshold_of_one_hits_the_same_vector_only():
    semantic = cache(similarity_threshold=1.0)
    vector = np.random.default_rng(0).normal(size=512).tolist()
    semantic.store(KEY, vector, "same")
    assert semantic.lookup(KEY, vector) == "same"
    assert semantic.lookup(KEY, np.add(vector, 0.05).tolist()) is None


def test_entries_never_cross_keys():
    semantic = cache()
    semantic.store(KEY, rotated(0), "greedy")
    assert semantic.lookup(("tiny-llm", 0.7, 32), rotated(0)) is None
    assert semantic.lookup(("other-llm", 0.0, 32), rotated(0)) is None
    semantic.store(("tiny-llm", 0.7, 32), rotated(0), "sampled")
    assert semantic.lookup(KEY, rotated(0)) == "greedy"
    assert semantic.lookup(("tiny-llm", 0.7, 32), rotated(0)) == "sampled"


def test_evicts_least_recently_used_beyond_max_entries():
    semantic = cache(max_entries=2)
    semantic.store("a", rotated(0), "A")
    semantic.store("b", rotated(0), "B")
    assert semantic.lookup("a", rotated(0)) == "A"  # "b" is now the least recently used
    semantic.store("c", rotated(0), "C")
    assert semantic.stats()["entries"] == 2
    assert semantic.lookup("b", rotated(0)) is None
    assert semantic.lookup("a", rotated(0)) == "A"
    assert semantic.lookup("c", rotated(0)) == "C"


def test_eviction_within_one_key_keeps_the_rest():
    semantic = cache(max_entries=3, similarity_threshold=0.99)
    for angle in (0, 30, 60, 90):
        semantic.store(KEY, rotated(angle), angle)
    assert semantic.lookup(KEY, rotated(0)) is None
    assert [semantic.lookup(KEY, rotated(angle)) for angle in (30, 60, 90)] == [30, 60, 90]


def test_entries_expire_after_ttl():
    clock = FakeClock()
    semantic = cache(clock=clock, ttl_s=60)
    semantic.store(KEY, rotated(0), "fresh")
    clock.now += 59
    assert semantic.lookup(KEY, rotated(0)) == "fresh"
    semantic.store(KEY, rotated(90), "later")
    clock.now += 1
    assert semantic.lookup(KEY, rotated(0)) is None
    assert semantic.stats()["entries"] == 1
    assert semantic.lookup(KEY, rotated(90)) == "later"
    clock.now += 59
    assert semantic.lookup(KEY, rotated(90)) is None
    assert semantic.stats()["entries"] == 0


def test_stats_count_hits_misses_and_entries():
    semantic = cache()
    assert semantic.stats() == {"hits": 0, "misses": 0, "entries": 0}
    semantic.lookup(KEY, rotated(0))
    semantic.store(KEY, rotated(0), "x")
    semantic.store(KEY, rotated(90), "y")
    semantic.lookup(KEY, rotated(0))
    semantic.lookup(KEY, rotated(90))
    semantic.lookup(KEY, rotated(45))
    assert semantic.stats() == {"hits": 2, "misses": 2, "entries": 2}


def test_disabled_cache_stores_and_finds_nothing():
    semantic = SemanticCache(SemanticCacheConfig())
    semantic.store(KEY, rotated(0), "x")
    assert semantic.lookup(KEY, rotated(0)) is None
    assert semantic.stats() == {"hits": 0, "misses": 0, "entries": 0}


def test_rejects_bad_embeddings():
    semantic = cache()
    with pytest.raises(ValueError):
        semantic.store(KEY, [0.0, 0.0, 0.0], "x")
    with pytest.raises(ValueError):
        semantic.lookup(KEY, [float("nan"), 1.0, 0.0])
    semantic.store(KEY, rotated(0), "x")
    with pytest.raises(ValueError):
        semantic.store(KEY, [1.0, 0.0], "y")
    with pytest.raises(ValueError):
        semantic.lookup(KEY, [1.0, 0.0])


@pytest.mark.parametrize("overrides", [
    {"similarity_threshold": 0.0}, {"similarity_threshold": 1.01}, {"max_entries": 0}, {"ttl_s": 0},
])
def test_config_rejects_out_of_range_values(overrides):
    with pytest.raises(ValidationError):
        SemanticCacheConfig(**overrides)
