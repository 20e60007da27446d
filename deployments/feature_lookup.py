"""FeatureLookup: a user's features and the candidate items' features from the Feast online store."""

import asyncio
import logging
import time

import pandas as pd
from feast import FeatureStore
from ray import serve

from serve_app.errors import UnknownUser
from serve_app.recsys_features import ITEM_VIEW, USER_VIEW, CandidateFeatures

logger = logging.getLogger("ray.serve")


@serve.deployment(ray_actor_options={"num_cpus": 0.25})
class FeatureLookup:
    """Reads online features for one user and the whole candidate catalog, per request."""

    def __init__(self, repo_path: str):
        self.store = FeatureStore(repo_path=repo_path)
        user_view = self.store.get_feature_view(USER_VIEW)
        item_view = self.store.get_feature_view(ITEM_VIEW)
        self.user_refs = [f"{USER_VIEW}:{f.name}" for f in user_view.features]
        self.item_refs = [f"{ITEM_VIEW}:{f.name}" for f in item_view.features]
        # The catalog is the item view's own source table; a new item needs a redeploy to be a candidate.
        self.item_ids = pd.read_parquet(item_view.batch_source.path, columns=["item_id"])["item_id"].tolist()
        started = time.perf_counter()
        # Any id exercises the user read path; whether the store knows it does not matter here.
        self._read(self.user_refs, "user_id", [0])
        self._read(self.item_refs, "item_id", self.item_ids)
        logger.info("FeatureLookup ready: %d candidate items, warm-up lookup %.1f ms",
                    len(self.item_ids), 1000 * (time.perf_counter() - started))

    def _read(self, refs: list[str], key: str, ids: list[int]) -> pd.DataFrame:
        """Online features of the given entities; a row of nulls for an entity the store lacks."""
        return self.store.get_online_features(refs, {key: ids}).to_df()

    def _lookup(self, user_id: int) -> CandidateFeatures:
        user = self._read(self.user_refs, "user_id", [user_id]).drop(columns="user_id")
        if user.isna().any(axis=None):
            raise UnknownUser(f"user {user_id} has no features in the online store")
        # Item features are read per request, not cached: they change with every materialization
        # and 200 items cost a few milliseconds, so the ranker always sees what the store holds.
        # Catalog items the store has not materialized yet are no candidates.
        items = self._read(self.item_refs, "item_id", self.item_ids).dropna()
        return CandidateFeatures(
            user_id=user_id,
            user=user.iloc[0].astype(float).to_dict(),
            item_ids=items.pop("item_id").astype(int).tolist(),
            items={column: items[column].astype(float).tolist() for column in items.columns},
        )

    async def lookup(self, user_id: int) -> CandidateFeatures:
        # The SQLite online store has no async reads; a thread keeps the event loop free.
        return await asyncio.to_thread(self._lookup, user_id)
