"""Generates user-item clicks with real signal, publishes features through Feast and trains the ranker."""

import json
import logging
import shutil
from datetime import datetime, timezone
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from tqdm import tqdm

from serve_app.artifacts.materialize import apply_definitions, materialize
from serve_app.artifacts.ranking_metrics import ndcg_at_k
from serve_app.common.feature_store import open_store
from serve_app.common.recsys_features import (
    AFFINITY_COLUMNS, CATEGORIES, DEFAULTS_FILE, FEATURE_NAMES, ITEM_COLUMNS, UNKNOWN_CATEGORY, USER_COLUMNS,
    FeatureDefaults, feature_frame,
)

logger = logging.getLogger(__name__)

USERS, ITEMS, IMPRESSIONS_PER_USER = 500, 200, 100
# Per user: features come from the oldest impressions, labels from the next, evaluation from the last,
# so no feature has seen the click it is asked to predict.
HISTORY, LABELLED = 60, 20
SMOOTHING = 5.0
K = 10
REPO_TEMPLATE = Path(__file__).resolve().parent / "feature_repo"
# One thread: OpenMP's spinning workers made training a hundred times slower on a busy 2-core host.
PARAMS = {"objective": "binary", "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 40,
          "num_threads": 1, "deterministic": True, "seed": 0, "verbose": -1}
ROUNDS = 150


def _interactions(rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """Impressions with clicks driven by each user's taste for categories and each item's quality."""
    taste = rng.dirichlet(np.full(CATEGORIES, 0.4), size=USERS)
    user_bias = rng.normal(0.0, 0.5, USERS)
    category = rng.integers(0, CATEGORIES, ITEMS)
    quality = rng.normal(0.0, 1.0, ITEMS)
    seen = np.stack([rng.choice(ITEMS, IMPRESSIONS_PER_USER, replace=False) for _ in range(USERS)])
    users = np.repeat(np.arange(USERS), IMPRESSIONS_PER_USER)
    items = seen.ravel()
    logit = (-2.2 + 6.0 * taste[users, category[items]] + 0.8 * quality[items] + user_bias[users]
             + rng.normal(0.0, 0.5, users.size))
    clicked = rng.random(users.size) < 1.0 / (1.0 + np.exp(-logit))
    frame = pd.DataFrame({"user_id": users + 1, "item_id": items + 1, "clicked": clicked.astype(np.int64),
                          "position": np.tile(np.arange(IMPRESSIONS_PER_USER), USERS)})
    return frame, category


def _smoothed(clicks: pd.Series, impressions: pd.Series, prior: float) -> pd.Series:
    return (clicks + SMOOTHING * prior) / (impressions + SMOOTHING)


def _feature_tables(history: pd.DataFrame, category: np.ndarray,
                    prior: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """User and item feature tables, as Feast reads them, computed from the history window only."""
    history = history.assign(category=category[history["item_id"] - 1])
    per_user = history.groupby("user_id")["clicked"].agg(["sum", "count"])
    grid = pd.MultiIndex.from_product([per_user.index, range(CATEGORIES)])
    per_category = history.groupby(["user_id", "category"])["clicked"].agg(["sum", "count"]).reindex(
        grid, fill_value=0)
    users = pd.DataFrame({"user_id": per_user.index.to_numpy(np.int64)})
    affinity = _smoothed(per_category["sum"], per_category["count"], prior).unstack()
    users[AFFINITY_COLUMNS] = affinity.to_numpy(np.float32)
    users["user_ctr"] = _smoothed(per_user["sum"], per_user["count"], prior).to_numpy(np.float32)
    users["user_impressions"] = per_user["count"].to_numpy(np.int64)

    per_item = history.groupby("item_id")["clicked"].agg(["sum", "count"]).reindex(
        np.arange(1, ITEMS + 1), fill_value=0)
    items = pd.DataFrame({
        "item_id": per_item.index.to_numpy(np.int64),
        "category": category.astype(np.int64),
        "item_ctr": _smoothed(per_item["sum"], per_item["count"], prior).to_numpy(np.float32),
        "item_impressions": per_item["count"].to_numpy(np.int64),
    })
    # Stamped with the build time: a store's first `materialize_incremental` starts a year back (ttl 0),
    # so a fixed, older snapshot date would load nothing into a fresh Redis.
    built_at = datetime.now(timezone.utc)
    for table in (users, items):
        table["event_timestamp"] = built_at
    return users, items


def _defaults(prior: float) -> FeatureDefaults:
    """The features `_feature_tables` gives a user or item without history: every rate is the prior."""
    return FeatureDefaults(
        user={**dict.fromkeys(AFFINITY_COLUMNS, prior), "user_ctr": prior, "user_impressions": 0.0},
        item={"category": UNKNOWN_CATEGORY, "item_ctr": prior, "item_impressions": 0.0},
    )


def _joined(pairs: pd.DataFrame, users: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    return (pairs.merge(users[["user_id", *USER_COLUMNS]], on="user_id")
            .merge(items[["item_id", *ITEM_COLUMNS]], on="item_id"))


def _publish(repo: Path, users: pd.DataFrame, items: pd.DataFrame, defaults: FeatureDefaults) -> None:
    """Copy the declarative repo, write its data and defaults, then fill the embedded SQLite online store.

    Redis is filled by `make materialize`, so building needs no running service; its registry gets the
    definitions here (registering needs no connection), so every node or pod that has the artifacts can serve
    from a Redis that another one (the k8s Job, a cluster's head) filled.
    """
    shutil.rmtree(repo, ignore_errors=True)
    shutil.copytree(REPO_TEMPLATE, repo, ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "data").mkdir()
    users.to_parquet(repo / "data" / "users.parquet", index=False)
    items.to_parquet(repo / "data" / "items.parquet", index=False)
    (repo / DEFAULTS_FILE).write_text(defaults.model_dump_json(indent=2))
    materialize(repo, "sqlite")
    apply_definitions(open_store(repo, "redis"))


def _mean_ndcg(heldout: pd.DataFrame, score: np.ndarray) -> float:
    """Mean NDCG@K over users with at least one held-out click, ranking their held-out items by score."""
    items, clicked = heldout["item_id"].to_numpy(), heldout["clicked"].to_numpy()
    values = []
    for rows in heldout.groupby("user_id").indices.values():
        relevant = set(items[rows][clicked[rows] == 1].tolist())
        if relevant:
            ranked = items[rows][np.argsort(-score[rows], kind="stable")]
            values.append(ndcg_at_k(ranked.tolist(), relevant, K))
    return float(np.mean(values))


def build(ranker_dir: Path, feature_repo_dir: Path, progress: tqdm) -> dict:
    """Generate data, publish features to Feast, train the LightGBM ranker and report held-out NDCG@10."""
    rng = np.random.default_rng(0)
    interactions, category = _interactions(rng)
    history = interactions[interactions["position"] < HISTORY]
    labelled = interactions[interactions["position"].between(HISTORY, HISTORY + LABELLED - 1)]
    heldout = interactions[interactions["position"] >= HISTORY + LABELLED]
    prior = float(history["clicked"].mean())
    users, items = _feature_tables(history, category, prior)

    progress.set_postfix_str("recsys: feast apply + materialize")
    _publish(feature_repo_dir, users, items, _defaults(prior))

    progress.set_postfix_str("recsys: training ranker")
    train = _joined(labelled, users, items)
    model = lgb.train(PARAMS, lgb.Dataset(feature_frame(train), label=train["clicked"]), ROUNDS)

    test = _joined(heldout, users, items)
    random_scores = [_mean_ndcg(test, rng.random(len(test))) for _ in range(20)]
    metrics = {
        f"ndcg@{K}": round(_mean_ndcg(test, model.predict(feature_frame(test))), 4),
        f"ndcg@{K}_popularity": round(_mean_ndcg(test, test["item_ctr"].to_numpy()), 4),
        f"ndcg@{K}_random": round(float(np.mean(random_scores)), 4),
    }
    ranker_dir.mkdir(parents=True, exist_ok=True)
    model.save_model(ranker_dir / "model.txt")
    spec = {"feature_names": FEATURE_NAMES, "objective": PARAMS["objective"], "heldout": metrics}
    (ranker_dir / "model.json").write_text(json.dumps(spec, indent=2))
    heldout[["user_id", "item_id", "clicked"]].to_parquet(ranker_dir / "heldout.parquet", index=False)
    logger.info("ranker trained: %s", metrics)
    return metrics
