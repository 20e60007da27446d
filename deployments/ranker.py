"""Ranker: scores users' candidate items with the LightGBM model and answers the top-k.

Concurrent requests are batched: their candidate sets become one matrix and one predict call."""

import asyncio
import json
import logging
from pathlib import Path

import lightgbm as lgb
import numpy as np
from ray import serve

from serve_app.common.batching import BatchingConfig, apply_batching, split_on_oom
from serve_app.common.model_metadata import ModelMetadata, Tensors, TensorMetadata, artifact_version, tag_logs
from serve_app.common.recsys_features import (
    ITEM_COLUMNS, USER_COLUMNS, CandidateFeatures, candidate_frame, feature_frame,
)

logger = logging.getLogger("ray.serve")


def top_k(features: CandidateFeatures, scores: np.ndarray, k: int) -> list[dict]:
    best = np.argsort(-scores, kind="stable")[:k]
    return [{"item_id": features.item_ids[i], "score": float(scores[i])} for i in best]


@serve.deployment(ray_actor_options={"num_cpus": 0.25})
class Ranker:
    """Scores the candidates of `FeatureLookup.lookup` results, many users per predict call, best first."""

    def __init__(self, model_dir: str):
        spec = json.loads((Path(model_dir) / "model.json").read_text())
        self.feature_names: list[str] = spec["feature_names"]
        self.model = lgb.Booster(model_file=str(Path(model_dir) / "model.txt"))
        # FEATURES columns go in feature_names order (model.json).
        self.metadata = ModelMetadata(
            name="ranker", versions=[artifact_version(Path(model_dir))], platform="lightgbm",
            inputs=[TensorMetadata(name="FEATURES", datatype="FP32", shape=[-1, len(self.feature_names)])],
            outputs=[TensorMetadata(name="SCORE", datatype="FP32", shape=[-1])])
        tag_logs(self.metadata)
        # One candidate through the whole path checks model.json against the shared feature code.
        self._scores([CandidateFeatures(user_id=0, known_user=True, user=dict.fromkeys(USER_COLUMNS, 0.0),
                                        item_ids=[0], items={column: [0.0] for column in ITEM_COLUMNS})])
        self.reconfigure(BatchingConfig().model_dump())
        logger.info("Ranker ready: %d features, held-out %s", len(self.feature_names), spec.get("heldout"))

    def reconfigure(self, user_config: dict) -> None:
        """Batching knobs from serve_config.yaml, applied live."""
        apply_batching(self._score_batch, BatchingConfig(**user_config))

    def _scores(self, candidate_sets: list[CandidateFeatures]) -> list[np.ndarray]:
        matrices = [feature_frame(candidate_frame(features))[self.feature_names].to_numpy()
                    for features in candidate_sets]
        # One thread: a few hundred rows score in about a millisecond, and replicas share the cores.
        scores = self.model.predict(np.concatenate(matrices), num_threads=1)
        return np.split(scores, np.cumsum([len(matrix) for matrix in matrices])[:-1])

    @serve.batch
    async def _score_batch(self, candidate_sets: list[CandidateFeatures]) -> list[np.ndarray]:
        # On a thread: the replica's event loop (the Ingress's, when hosted there) keeps serving meanwhile.
        return await asyncio.to_thread(split_on_oom, self._scores, candidate_sets)

    async def rank(self, features: CandidateFeatures, k: int) -> list[dict]:
        return top_k(features, await self._score_batch(features), k)

    def rank_alone(self, features: CandidateFeatures, k: int) -> list[dict]:
        """`rank` for a batch of one, without Serve's batching (which needs a running replica)."""
        return top_k(features, self._scores([features])[0], k)

    def describe(self) -> ModelMetadata:
        return self.metadata

    async def infer(self, inputs: Tensors) -> Tensors:
        """The V2 model: ready feature rows, columns in `feature_names` order, scored in one call."""
        return {"SCORE": self.model.predict(inputs["FEATURES"], num_threads=1).astype(np.float32)}
