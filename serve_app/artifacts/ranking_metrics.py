"""Ranking quality metrics with binary relevance."""

import math


def ndcg_at_k(recommended: list[int], relevant: set[int], k: int) -> float:
    """NDCG@k of a ranked list against the set of relevant ids; 0.0 when nothing is relevant."""
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(k, len(relevant))))
    if ideal == 0.0:
        return 0.0
    gained = sum(1.0 / math.log2(rank + 2)
                 for rank, item in enumerate(recommended[:k]) if item in relevant)
    return gained / ideal
