"""What a model says of itself, across the deployment handle: its KServe V2 metadata (tensor names,
datatypes, shapes) and its version, a content hash of its artifact that its log lines carry too."""

import contextlib
import contextvars
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from serve_app.common.errors import InvalidTensor

# V2 datatype → numpy dtype; BYTES elements are Python bytes in an object array.
DATATYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8), "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32), "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8), "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32), "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16), "FP32": np.dtype(np.float32), "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(np.object_),
}
DATATYPE_OF = {dtype: name for name, dtype in DATATYPES.items()}
Tensors = dict[str, np.ndarray]


class TensorMetadata(BaseModel):
    """A model input or output; -1 in `shape` is a dimension of any size (the batch)."""

    name: str
    datatype: str
    shape: list[int] = Field(min_length=1)
    optional: bool = Field(default=False, exclude=True)

    def check(self, tensor: np.ndarray, max_batch: int) -> None:
        """Raises InvalidTensor unless `tensor` fits this input."""
        if tensor.dtype != DATATYPES[self.datatype]:
            raise InvalidTensor(f"input {self.name!r} is {DATATYPE_OF[tensor.dtype]}, expected {self.datatype}")
        shape = list(tensor.shape)
        fits = len(shape) == len(self.shape) and all(d in (-1, s) for d, s in zip(self.shape, shape))
        if not fits:
            raise InvalidTensor(f"input {self.name!r} has shape {shape}, expected {self.shape}")
        if self.shape[0] == -1 and not 1 <= shape[0] <= max_batch:
            raise InvalidTensor(f"input {self.name!r} has batch size {shape[0]}, expected 1 to {max_batch}")


class ModelMetadata(BaseModel):
    """A model's V2 metadata; one with no inputs (an LLM, a feature store) is not served as tensors."""

    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata] = []
    outputs: list[TensorMetadata] = []


def artifact_version(*paths: Path) -> str:
    """A short content hash of the files at `paths` (files, or folders taken whole)."""
    digest = hashlib.sha256()
    for root in paths:
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            digest.update(str(path.relative_to(root.parent)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


class _ModelVersionTag(logging.Filter):
    def __init__(self, model: str, version: str):
        super().__init__()
        self.model, self.version = model, version

    def filter(self, record: logging.LogRecord) -> bool:
        record.model_version = f"{self.model}:{self.version}"
        return True


# False while a model is built inside another deployment's replica (serve_app/hosted_models.py).
_TAGGING = contextvars.ContextVar("model_log_tagging", default=True)


@contextlib.contextmanager
def untagged_logs() -> Iterator[None]:
    """Models built inside leave the replica's log lines untagged: they are not one model's lines."""
    token = _TAGGING.set(False)
    try:
        yield
    finally:
        _TAGGING.reset(token)


def tag_logs(metadata: ModelMetadata) -> None:
    """Every line this replica writes through Serve's logger names the model and its version. A filter
    on the logger, not its handlers: Serve replaces the handlers when its logging config changes."""
    if not _TAGGING.get():
        return
    logging.getLogger("ray.serve").addFilter(_ModelVersionTag(metadata.name, metadata.versions[0]))
