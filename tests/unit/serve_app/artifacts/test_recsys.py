"""The recsys artifact's ranking quality through FeatureLookup and Ranker, without Ray."""

import asyncio
import math

import numpy as np
import pandas as pd
import pytest

from serve_app.artifacts.ranking_metrics import ndcg_at_k

UNKNOWN_USER = 10_000


@pytest.mark.parametrize(("recommended", "relevant", "k", "expected"), [
    ([1, 2, 3], {1, 2}, 10, 1.0),
    ([3, 1], {1}, 10, 1 / math.log2(3)),
    ([3, 1, 2], {1, 2}, 3, (1 / math.log2(3) + 1 / math.log2(4)) / (1 + 1 / math.log2(3))),
    ([3, 4, 1], {1}, 2, 0.0),
    ([2, 1], {1, 2}, 1, 1.0),
    ([1, 2], set(), 10, 0.0),
])
def test_ndcg_at_k(recommended, relevant, k, expected):
    assert ndcg_at_k(recommended, relevant, k) == pytest.approx(expected)


def test_model_beats_random_and_popularity(built):
    _, metrics = built
    assert metrics["ndcg@10"] > metrics["ndcg@10_random"] + 0.15
    assert metrics["ndcg@10"] > metrics["ndcg@10_popularity"] + 0.05


def test_lookup_and_rank_answer_top_k(lookup, ranker):
    features = asyncio.run(lookup.lookup(1))
    assert features.user_id == 1 and features.known_user and len(features.item_ids) == 200
    top = ranker.rank_alone(features, k=10)
    assert len(top) == 10 and len({row["item_id"] for row in top}) == 10
    assert set(top[0]) == {"item_id", "score"} and {row["item_id"] for row in top} <= set(features.item_ids)
    assert [row["score"] for row in top] == sorted((row["score"] for row in top), reverse=True)


def test_unknown_user_gets_the_defaults_and_popular_items(lookup, ranker):
    """A user without features ranks as one without history would: by the items' click-through."""
    features = asyncio.run(lookup.lookup(UNKNOWN_USER))
    assert not features.known_user and features.user == lookup.defaults.user
    ranked = pd.DataFrame(ranker.rank_alone(features, k=len(features.item_ids)))
    popularity = ranked["item_id"].map(dict(zip(features.item_ids, features.items["item_ctr"])))
    assert ranked["score"].corr(popularity, method="spearman") > 0.8


def test_served_path_reproduces_heldout_ndcg(built, lookup, ranker):
    """Ranking held-out items through FeatureLookup and Ranker scores as the builder measured:
    training and serving build features the same way."""
    layout, metrics = built
    heldout = pd.read_parquet(layout.ranker / "heldout.parquet")

    async def user_ndcg(user_id: int, group: pd.DataFrame) -> float:
        scored = ranker.rank_alone(await lookup.lookup(user_id), k=len(lookup.item_ids))
        shown = set(group["item_id"])
        order = [row["item_id"] for row in scored if row["item_id"] in shown]
        return ndcg_at_k(order, set(group.loc[group["clicked"] == 1, "item_id"]), 10)

    async def mean_ndcg() -> float:
        groups = [(u, g) for u, g in heldout.groupby("user_id") if g["clicked"].any()]
        values = [await user_ndcg(int(u), g) for u, g in groups]
        return sum(values) / len(values)

    assert asyncio.run(mean_ndcg()) == pytest.approx(metrics["ndcg@10"], abs=2e-3)


def test_a_batch_of_users_scores_as_each_alone(lookup, ranker):
    users = [asyncio.run(lookup.lookup(user_id)) for user_id in (3, 4, 999_999)]
    batched = ranker._scores(users)
    assert [len(scores) for scores in batched] == [len(features.item_ids) for features in users]
    for features, scores in zip(users, batched):
        np.testing.assert_allclose(scores, ranker._scores([features])[0])
