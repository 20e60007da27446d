"""TextStats: a model deployment that only a test config binds, to show that a model is added by one
file and one config entry (no other Python edited): counts the characters of texts."""

import numpy as np
from ray import serve

from serve_app.common.errors import InvalidTensor
from serve_app.common.model_metadata import ModelMetadata, Tensors, TensorMetadata


@serve.deployment(ray_actor_options={"num_cpus": 0})
class TextStats:
    """Characters per text, as a V2 model (`text_stats`) and as a graph node (`count`)."""

    def __init__(self, version: str = "1"):
        self.metadata = ModelMetadata(name="text_stats", versions=[version], platform="python",
                                      inputs=[TensorMetadata(name="TEXT", datatype="BYTES", shape=[-1])],
                                      outputs=[TensorMetadata(name="LENGTH", datatype="INT64", shape=[-1])])

    def describe(self) -> ModelMetadata:
        return self.metadata

    async def count(self, text: str) -> int:
        return len(text)

    async def infer(self, inputs: Tensors) -> Tensors:
        try:
            return {"LENGTH": np.array([len(text.decode()) for text in inputs["TEXT"]], np.int64)}
        except UnicodeDecodeError:
            raise InvalidTensor("TEXT elements must be UTF-8") from None
