"""The V2 model registry: each model's metadata and its inference over the deployment handles.

Batched inputs are split into items whose handle calls run concurrently: the deployments'
`@serve.batch` methods gather them into model batches again.
"""

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Iterable

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from graphs import builtin
from graphs.builtin import ModelHandles
from serve_app.errors import InvalidTensor, UnknownModel
from serve_app.readiness import SERVING, deployment_statuses
from serve_app.schemas import RecommendRequest
from serve_app.v2.protocol import ModelMetadata, TensorMetadata, describe

# Each item is one handle call: the bound keeps one request from filling a deployment's
# max_queued_requests (serve_config.yaml), which would reject everyone's calls.
MAX_BATCH = 64
Tensors = dict[str, np.ndarray]


class V2Model(BaseModel):
    """A model as V2 clients see it: metadata, the deployments it needs, and how to run it."""

    model_config = ConfigDict(frozen=True)

    metadata: ModelMetadata
    handles: tuple[str, ...]  # ModelHandles fields whose deployments must be up for the model to be ready
    run: Callable[[ModelHandles, Tensors], Awaitable[Tensors]]

    def check(self, inputs: Tensors) -> None:
        """Raises InvalidTensor unless `inputs` are exactly this model's inputs, in shape and datatype."""
        expected = {spec.name: spec for spec in self.metadata.inputs}
        unknown = sorted(set(inputs) - set(expected))
        missing = sorted(name for name, spec in expected.items() if name not in inputs and not spec.optional)
        if unknown or missing:
            raise InvalidTensor(f"model {self.metadata.name!r} takes inputs {list(expected)}; "
                                f"unknown {unknown}, missing {missing}")
        for name, tensor in inputs.items():
            expected[name].check(tensor, MAX_BATCH)


def _labels(results: list[dict]) -> Tensors:
    return {"LABEL": np.array([result["label"].encode() for result in results], dtype=object),
            "PROBABILITIES": np.array([result["probabilities"] for result in results], np.float32)}


async def _preprocess(models: ModelHandles, inputs: Tensors) -> Tensors:
    tensors = await asyncio.gather(*(models.preprocessor.preprocess.remote(image) for image in inputs["IMAGE"]))
    return {"TENSOR": np.stack(tensors)}


async def _vision(models: ModelHandles, inputs: Tensors) -> Tensors:
    return _labels(await asyncio.gather(*(models.vision.classify.remote(row) for row in inputs["TENSOR"])))


async def _classify(models: ModelHandles, inputs: Tensors) -> Tensors:
    results = await asyncio.gather(*(builtin.classify(models, image) for image in inputs["IMAGE"]))
    return {**_labels(results), "SCORE": np.array([result["score"] for result in results], np.float32)}


async def _ranker(models: ModelHandles, inputs: Tensors) -> Tensors:
    return {"SCORE": (await models.ranker.score.remote(inputs["FEATURES"])).astype(np.float32)}


async def _recommend(models: ModelHandles, inputs: Tensors) -> Tensors:
    k = {"k": int(inputs["K"][0])} if "K" in inputs else {}
    try:  # the /v1 request model holds the limits on user ids and k
        requests = [RecommendRequest(user_id=int(user_id), **k) for user_id in inputs["USER_ID"]]
    except ValidationError as error:
        raise InvalidTensor(describe(error)) from None
    answers = await asyncio.gather(*(builtin.recommend(models, r.user_id, r.k) for r in requests))
    # A catalog smaller than k gives shorter lists; rows of a tensor must be equally long.
    width = min(len(answer["items"]) for answer in answers)
    rows = [answer["items"][:width] for answer in answers]
    return {"ITEM_IDS": np.array([[item["item_id"] for item in row] for row in rows], np.int64),
            "SCORES": np.array([[item["score"] for item in row] for row in rows], np.float32)}


def build_registry(vision: dict, ranker: dict) -> dict[str, V2Model]:
    """Every V2 model by name, shaped by what the vision and ranker deployments `describe`."""
    image = TensorMetadata(name="IMAGE", datatype="BYTES", shape=[-1])
    tensor = TensorMetadata(name="TENSOR", datatype="FP32", shape=[-1, 3, vision["size"], vision["size"]])
    label = TensorMetadata(name="LABEL", datatype="BYTES", shape=[-1])
    probabilities = TensorMetadata(name="PROBABILITIES", datatype="FP32", shape=[-1, len(vision["labels"])])
    score = TensorMetadata(name="SCORE", datatype="FP32", shape=[-1])
    features = TensorMetadata(name="FEATURES", datatype="FP32", shape=[-1, len(ranker["feature_names"])])
    user_id = TensorMetadata(name="USER_ID", datatype="INT64", shape=[-1])
    k = TensorMetadata(name="K", datatype="INT32", shape=[1], optional=True)
    item_ids = TensorMetadata(name="ITEM_IDS", datatype="INT64", shape=[-1, -1])
    scores = TensorMetadata(name="SCORES", datatype="FP32", shape=[-1, -1])
    models = [
        (ModelMetadata(name="preprocess", platform="dali", inputs=[image], outputs=[tensor]),
         ("preprocessor",), _preprocess),
        (ModelMetadata(name="vision", platform="onnxruntime_onnx", inputs=[tensor],
                       outputs=[probabilities, label]), ("vision",), _vision),
        (ModelMetadata(name="classify", platform="ensemble", inputs=[image],
                       outputs=[label, score, probabilities]), ("preprocessor", "vision"), _classify),
        (ModelMetadata(name="ranker", platform="lightgbm", inputs=[features], outputs=[score]),
         ("ranker",), _ranker),
        (ModelMetadata(name="recommend", platform="ensemble", inputs=[user_id, k],
                       outputs=[item_ids, scores]), ("features", "ranker"), _recommend),
    ]
    return {meta.name: V2Model(metadata=meta, handles=handles, run=run) for meta, handles, run in models}


# Per ingress replica: the shapes only change with new artifacts, which come with a redeploy.
_registry: dict[str, V2Model] = {}


async def find_model(models: ModelHandles, name: str) -> V2Model:
    """The named model; raises UnknownModel for a name the platform does not serve."""
    if not _registry:
        vision, ranker = await asyncio.gather(models.vision.describe.remote(), models.ranker.describe.remote())
        _registry.update(build_registry(vision, ranker))
    if name not in _registry:
        raise UnknownModel(f"unknown model {name!r}; the models are {sorted(_registry)}")
    return _registry[name]


def deployments_ready(models: ModelHandles, fields: Iterable[str]) -> bool:
    """Whether every deployment behind these ModelHandles fields has serving replicas."""
    statuses = deployment_statuses()
    return all(statuses[getattr(models, field).deployment_name] in SERVING for field in fields)


def server_ready(models: ModelHandles) -> bool:
    return deployments_ready(models, [field.name for field in dataclasses.fields(models)])
