"""VisionClassifier: an ONNX Runtime image classifier with dynamic batching."""

import asyncio
import json
import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort
from ray import serve

from serve_app.batching import BatchingConfig, apply_batching

logger = logging.getLogger("ray.serve")


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


@serve.deployment(ray_actor_options={"num_cpus": 0.25})
class VisionClassifier:
    """Classifies normalized CHW tensors; answers the label, its score and the top-k labels."""

    def __init__(self, model_dir: str, top_k: int = 3):
        spec = json.loads((Path(model_dir) / "model.json").read_text())
        self.labels: list[str] = spec["labels"]
        self.size: int = spec["size"]
        self.top_k = min(top_k, len(self.labels))
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                     if p in ort.get_available_providers()]
        self.session = ort.InferenceSession(str(Path(model_dir) / "model.onnx"), options, providers=providers)
        self.input_name = self.session.get_inputs()[0].name
        self._infer(np.zeros((1, 3, spec["size"], spec["size"]), np.float32))
        self.reconfigure(BatchingConfig().model_dump())
        logger.info("VisionClassifier ready", extra={"providers": self.session.get_providers()})

    def _infer(self, batch: np.ndarray) -> list[dict]:
        probabilities = softmax(self.session.run(None, {self.input_name: batch})[0])
        results = []
        for row in probabilities:
            best = np.argsort(row)[::-1][: self.top_k]
            top_k = [{"label": self.labels[i], "score": float(row[i])} for i in best]
            results.append({"label": top_k[0]["label"], "score": top_k[0]["score"], "top_k": top_k,
                            "probabilities": row.tolist()})
        return results

    def describe(self) -> dict:
        """Input size and labels in output order, for clients that ask for the model's metadata."""
        return {"size": self.size, "labels": self.labels}

    def reconfigure(self, user_config: dict) -> None:
        """Batching knobs from serve_config.yaml, applied live."""
        apply_batching(self.classify, BatchingConfig(**user_config))

    @serve.batch
    async def classify(self, tensors: list[np.ndarray]) -> list[dict]:
        return await asyncio.to_thread(self._infer, np.stack(tensors))
