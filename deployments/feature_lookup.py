"""FeatureLookup: a user's features and the candidate items' features from the Feast online store."""

import asyncio
import logging
import time
from pathlib import Path

import pandas as pd
from feast.errors import FeatureViewNotFoundException
from ray import serve

from serve_app.common.feature_store import open_store
from serve_app.common.model_metadata import ModelMetadata, artifact_version, tag_logs
from serve_app.common.recsys_features import (
    DEFAULTS_FILE, ITEM_COLUMNS, ITEM_VIEW, USER_COLUMNS, USER_VIEW, CandidateFeatures, FeatureDefaults,
)
from serve_app.common.settings import OnlineStore, PlatformSettings

logger = logging.getLogger("ray.serve")
# Item features change only when `make materialize` runs, and reading all 200 through Feast costs
# 5-10 ms: a replica re-reads the catalog at most this often instead of on every request.
ITEM_REFRESH_S = 30.0


@serve.deployment(ray_actor_options={"num_cpus": 0.25})
class FeatureLookup:
    """Reads one user's online features per request next to the candidate catalog's, from SQLite or Redis.

    A user or item the store lacks gets the build's defaults (those of one without history), not an error.
    """

    def __init__(self, repo_path: str, online_store: OnlineStore | None = None):
        online_store = online_store or PlatformSettings().online_store
        self.store = open_store(repo_path, online_store)
        self.defaults = FeatureDefaults.model_validate_json((Path(repo_path) / DEFAULTS_FILE).read_text())
        try:
            item_view = self.store.get_feature_view(ITEM_VIEW)
        except FeatureViewNotFoundException as error:
            raise RuntimeError(f"the {online_store} online store of {repo_path} was never materialized; "
                               f"run `make materialize` with PLATFORM_ONLINE_STORE={online_store}") from error
        # The feature definitions and the tables behind them: what a new `make artifacts` or
        # `make materialize` changes.
        version = artifact_version(Path(repo_path) / "features.py", Path(repo_path) / "data")
        self.metadata = ModelMetadata(name="features", versions=[version], platform=f"feast_{online_store}")
        tag_logs(self.metadata)
        # The catalog is the item view's own source table; a new item needs a redeploy to be a candidate.
        self.item_ids = pd.read_parquet(item_view.batch_source.path, columns=["item_id"])["item_id"].tolist()
        started = time.perf_counter()
        # Any id exercises the user read path; whether the store knows it does not matter here.
        self._read(USER_VIEW, USER_COLUMNS, "user_id", [0], self.defaults.user)
        self.refresh_items()
        logger.info("FeatureLookup ready (%s): %d candidate items, warm-up lookup %.1f ms", online_store,
                    len(self.item_ids), 1000 * (time.perf_counter() - started))

    def _read(self, view: str, columns: list[str], key: str, ids: list[int],
              defaults: dict[str, float]) -> tuple[dict[str, list[float]], list[bool]]:
        """Feature columns of the given entities, defaults where the store lacks one, and which it had."""
        rows = self.store.get_online_features([f"{view}:{c}" for c in columns], {key: ids}).to_dict()
        known = [all(rows[c][i] is not None for c in columns) for i in range(len(ids))]
        return {c: [defaults[c] if v is None else float(v) for v in rows[c]] for c in columns}, known

    def refresh_items(self) -> None:
        """Re-read every catalog item; one the store has not materialized yet is a candidate with defaults."""
        self.items, known = self._read(ITEM_VIEW, ITEM_COLUMNS, "item_id", self.item_ids, self.defaults.item)
        if not all(known):
            logger.warning("%d catalog items are not in the online store; they rank on item defaults",
                           known.count(False))
        self.items_read_at = time.monotonic()

    def _lookup(self, user_id: int) -> CandidateFeatures:
        if time.monotonic() - self.items_read_at > ITEM_REFRESH_S:
            self.refresh_items()
        user, (known,) = self._read(USER_VIEW, USER_COLUMNS, "user_id", [user_id], self.defaults.user)
        return CandidateFeatures(user_id=user_id, known_user=known, user={c: v[0] for c, v in user.items()},
                                 item_ids=self.item_ids, items=self.items)

    def describe(self) -> ModelMetadata:
        return self.metadata

    async def lookup(self, user_id: int) -> CandidateFeatures:
        # Feast's SQLite and Redis reads here are blocking; a thread keeps the event loop free.
        return await asyncio.to_thread(self._lookup, user_id)
