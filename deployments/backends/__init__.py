"""The one adapter interface between a deployment and the runtime that executes its model.

Lifecycle as in Triton's python backend: load in the constructor, `infer` on a batch, `health`,
`close`. Deployments ask `create_backend` for one by `kind` and never import a concrete backend.
"""

import importlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict


class BackendConfig(BaseModel):
    """Which runtime runs a model; `url` and `model_name` address an external Triton server."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["onnxruntime", "triton"] = "onnxruntime"
    url: str = "127.0.0.1:8001"
    model_name: str = "vision"
    timeout_s: float = 10.0


class Backend(ABC):
    """Runs one model on a batch of named input tensors; not thread-safe, call it from one thread."""

    @abstractmethod
    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Named output tensors for named input tensors, batch first."""

    @abstractmethod
    def health(self) -> None:
        """Raise when the runtime cannot serve."""

    def close(self) -> None:
        """Release the runtime's resources."""


_REGISTRY = {
    "onnxruntime": "deployments.backends.onnx_runtime:OnnxRuntimeBackend",
    "triton": "deployments.backends.triton_http:TritonHttpBackend",
}


def create_backend(config: BackendConfig, model_dir: Path) -> Backend:
    """Load the backend of `config.kind` for the model in `model_dir` (imported only when chosen)."""
    module, name = _REGISTRY[config.kind].split(":")
    return getattr(importlib.import_module(module), name)(config, model_dir)
