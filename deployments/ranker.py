"""Ranker: scores one user's candidate items with the LightGBM model and answers the top-k."""

import json
import logging
from pathlib import Path

import lightgbm as lgb
import numpy as np
from ray import serve

from serve_app.recsys_features import (
    ITEM_COLUMNS, USER_COLUMNS, CandidateFeatures, candidate_frame, feature_frame,
)

logger = logging.getLogger("ray.serve")


@serve.deployment(ray_actor_options={"num_cpus": 0.25})
class Ranker:
    """Scores all candidates of `FeatureLookup.lookup` in one batch, best first."""

    def __init__(self, model_dir: str):
        spec = json.loads((Path(model_dir) / "model.json").read_text())
        self.feature_names: list[str] = spec["feature_names"]
        self.model = lgb.Booster(model_file=str(Path(model_dir) / "model.txt"))
        # One candidate through the whole path checks model.json against the shared feature code.
        self._scores(CandidateFeatures(user_id=0, known_user=True, user=dict.fromkeys(USER_COLUMNS, 0.0),
                                       item_ids=[0], items={column: [0.0] for column in ITEM_COLUMNS}))
        logger.info("Ranker ready: %d features, held-out %s", len(self.feature_names), spec.get("heldout"))

    def _scores(self, features: CandidateFeatures) -> np.ndarray:
        matrix = feature_frame(candidate_frame(features))[self.feature_names].to_numpy()
        # One thread: a few hundred rows score in about a millisecond, and replicas share the cores.
        return self.model.predict(matrix, num_threads=1)

    async def rank(self, features: CandidateFeatures, k: int) -> list[dict]:
        scores = self._scores(features)
        best = np.argsort(-scores, kind="stable")[:k]
        return [{"item_id": features.item_ids[i], "score": float(scores[i])} for i in best]

    async def score(self, matrix: np.ndarray) -> np.ndarray:
        """Scores ready feature rows, columns in `feature_names` order (the KServe V2 `ranker` model)."""
        return self.model.predict(matrix, num_threads=1)

    def describe(self) -> dict:
        """The feature order `score` expects, for clients that ask for the model's metadata."""
        return {"feature_names": self.feature_names}
