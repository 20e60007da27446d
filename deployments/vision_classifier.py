"""VisionClassifier: an image classifier with dynamic batching, on a pluggable backend
(in-process ONNX Runtime by default, or an external Triton server)."""

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from ray import serve

from deployments.backends import BackendConfig, create_backend
from serve_app.common.batching import BatchingConfig, apply_batching, split_on_oom
from serve_app.common.model_metadata import ModelMetadata, Tensors, TensorMetadata, artifact_version, tag_logs

logger = logging.getLogger("ray.serve")


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


@serve.deployment(ray_actor_options={"num_cpus": 0.25})
class VisionClassifier:
    """Classifies normalized CHW tensors; answers the label, its score and the top-k labels."""

    def __init__(self, model_dir: str, top_k: int = 3, backend: dict | None = None):
        spec = json.loads((Path(model_dir) / "model.json").read_text())
        self.labels: list[str] = spec["labels"]
        self.size: int = spec["size"]
        self.top_k = min(top_k, len(self.labels))
        config = BackendConfig(**(backend or {}))
        self.metadata = ModelMetadata(
            name="vision", versions=[artifact_version(Path(model_dir))], platform="onnxruntime_onnx",
            inputs=[TensorMetadata(name="TENSOR", datatype="FP32", shape=[-1, 3, self.size, self.size])],
            outputs=[TensorMetadata(name="PROBABILITIES", datatype="FP32", shape=[-1, len(self.labels)]),
                     TensorMetadata(name="LABEL", datatype="BYTES", shape=[-1])])
        tag_logs(self.metadata)
        # Every backend call runs on this one thread: backends are not thread-safe (Triton's
        # HTTP client is bound to the thread that made it), and one batch runs at a time anyway.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vision-backend")
        self.backend = self.executor.submit(create_backend, config, Path(model_dir)).result()
        self.executor.submit(self._infer, np.zeros((1, 3, self.size, self.size), np.float32)).result()
        self.reconfigure(BatchingConfig().model_dump())
        logger.info("VisionClassifier ready", extra={"backend": config.kind})

    def _infer(self, batch: np.ndarray) -> list[dict]:
        probabilities = softmax(self.backend.infer({"image": batch})["logits"])
        results = []
        for row in probabilities:
            best = np.argsort(row)[::-1][: self.top_k]
            top_k = [{"label": self.labels[i], "score": float(row[i])} for i in best]
            results.append({"label": top_k[0]["label"], "score": top_k[0]["score"], "top_k": top_k,
                            "probabilities": row.tolist()})
        return results

    def describe(self) -> ModelMetadata:
        return self.metadata

    async def infer(self, inputs: Tensors) -> Tensors:
        """The V2 model: each tensor through the batched path, so other callers' tensors share its batches."""
        results = await asyncio.gather(*map(self.classify, inputs["TENSOR"]))
        return {"PROBABILITIES": np.array([result["probabilities"] for result in results], np.float32),
                "LABEL": np.array([result["label"].encode() for result in results], dtype=object)}

    def reconfigure(self, user_config: dict) -> None:
        """Batching knobs from serve_config.yaml, applied live."""
        apply_batching(self.classify, BatchingConfig(**user_config))

    @serve.batch
    async def classify(self, tensors: list[np.ndarray]) -> list[dict]:
        return await asyncio.get_running_loop().run_in_executor(
            self.executor, split_on_oom, lambda batch: self._infer(np.stack(batch)), tensors)

    async def check_health(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self.executor, self.backend.health)

    def __del__(self):
        if backend := getattr(self, "backend", None):
            self.executor.submit(backend.close).result()
            self.executor.shutdown()
