"""Embedder: sentence embeddings from one of the bundled encoders (deployments/backends/text_encoders.py), by
default universal-sentence-encoder-multilingual v3 (512 dims, Korean and English among 16 languages).

Concurrent callers' texts are batched with @serve.batch into one forward pass."""

import asyncio
import logging
import time
from pathlib import Path

import numpy as np
from ray import serve

from deployments.backends.text_encoders import TEXT_ENCODERS
from serve_app.common.batching import BatchingConfig, apply_batching, split_on_oom
from serve_app.common.errors import InvalidTensor
from serve_app.common.model_metadata import ModelMetadata, Tensors, TensorMetadata, tag_logs

logger = logging.getLogger("ray.serve")


@serve.deployment(ray_actor_options={"num_cpus": 0.2}, max_ongoing_requests=64)
class Embedder:
    """Embeds texts as L2-normalized vectors and counts the tokens the model read; `model` is one of
    TEXT_ENCODERS (use-multilingual-v3, all-minilm-l6-v2), `model_dir` replaces its bundled files."""

    def __init__(self, model: str = "use-multilingual-v3", model_dir: str | None = None):
        started = time.perf_counter()
        if model not in TEXT_ENCODERS:
            raise ValueError(f"unknown embedding model {model!r}; one of {sorted(TEXT_ENCODERS)}")
        self.encoder = TEXT_ENCODERS[model](Path(model_dir) if model_dir else None)
        self.metadata = ModelMetadata(
            name=self.encoder.name, versions=[self.encoder.version], platform=self.encoder.platform,
            inputs=[TensorMetadata(name="TEXT", datatype="BYTES", shape=[-1])],
            outputs=[TensorMetadata(name="EMBEDDING", datatype="FP32", shape=[-1, self.encoder.dims])])
        tag_logs(self.metadata)
        self._encode(["warm-up"])
        self.reconfigure(BatchingConfig().model_dump())
        logger.info("Embedder for %s ready in %.1f s: %d dims, up to %d tokens", model,
                    time.perf_counter() - started, self.encoder.dims, self.encoder.max_tokens)

    def reconfigure(self, user_config: dict) -> None:
        """Batching knobs from serve_config.yaml, applied live."""
        apply_batching(self._embed_batch, BatchingConfig(**user_config))

    def _encode(self, texts: list[str]) -> tuple[np.ndarray, list[int]]:
        """Unit vectors (one row per text) and each text's token count, special tokens included."""
        # Texts longer than the encoder's max_tokens are truncated, not rejected: the vector then stands
        # for the first max_tokens tokens only, and the count says so.
        embeddings, tokens = self.encoder.encode(texts)
        # The bundled models normalize; another model_dir may not.
        embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
        return embeddings, tokens

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
        """Embeds `texts` in order: {"embeddings": [[float] * dims, ...], "prompt_tokens": total}."""
        results = await asyncio.gather(*(self._embed_batch(text) for text in texts))
        return {"embeddings": [vector for vector, _ in results],
                "prompt_tokens": sum(tokens for _, tokens in results)}
