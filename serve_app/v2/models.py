"""The V2 model registry: each model's metadata and its inference over the deployment handles and
the declared graphs.

Batched inputs are split into items whose handle calls (or graph runs) go concurrently: the
deployments' `@serve.batch` methods gather them into model batches again. Every declared graph is a
V2 model: `classify` and `recommend` with typed tensors, any other with one JSON document per row.
"""

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from graphs.executor import GraphExecutor
from graphs.spec import GraphSpec
from serve_app.errors import InvalidTensor, UnknownModel
from serve_app.model_handles import ModelHandles
from serve_app.readiness import SERVING, deployment_statuses
from serve_app.v2.protocol import ModelMetadata, TensorMetadata, describe

# Each item is one handle call: the bound keeps one request from filling a deployment's
# max_queued_requests (serve_config.yaml), which would reject everyone's calls.
MAX_BATCH = 64
Tensors = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Serving:
    """What V2 models run on: the model deployments' handles and the ingress replica's graph executors."""

    models: ModelHandles
    graphs: dict[str, GraphExecutor]


class V2Model(BaseModel):
    """A model as V2 clients see it: metadata, the deployments it needs, and how to run it."""

    model_config = ConfigDict(frozen=True)

    metadata: ModelMetadata
    deployments: tuple[str, ...]  # must all be up for the model to be ready
    run: Callable[[Serving, Tensors], Awaitable[Tensors]]

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


def _parsed_rows(graph: GraphExecutor, bodies: Iterable[Any]) -> list[Any]:
    """Each row's body as the graph's `$input`; a row its declared input refuses is an InvalidTensor."""
    try:
        return [graph.parse(body) for body in bodies]
    except ValidationError as error:
        raise InvalidTensor(describe(error)) from None


async def _run_rows(graph: GraphExecutor, payloads: Iterable[Any]) -> list[Any]:
    """One graph run per row, concurrently."""
    return await asyncio.gather(*(graph.run(payload) for payload in payloads))


async def _preprocess(serving: Serving, inputs: Tensors) -> Tensors:
    images = inputs["IMAGE"]
    return {"TENSOR": np.stack(await asyncio.gather(*map(serving.models.preprocessor.preprocess.remote, images)))}


async def _vision(serving: Serving, inputs: Tensors) -> Tensors:
    return _labels(await asyncio.gather(*map(serving.models.vision.classify.remote, inputs["TENSOR"])))


async def _classify(serving: Serving, inputs: Tensors) -> Tensors:
    # Raw image bytes skip the JSON body's base64; the graph's first node takes either.
    rows = ({"image": image} for image in inputs["IMAGE"])
    results = await _run_rows(serving.graphs["classify"], rows)
    return {**_labels(results), "SCORE": np.array([result["score"] for result in results], np.float32)}


async def _ranker(serving: Serving, inputs: Tensors) -> Tensors:
    return {"SCORE": (await serving.models.ranker.score.remote(inputs["FEATURES"])).astype(np.float32)}


async def _recommend(serving: Serving, inputs: Tensors) -> Tensors:
    k = {"k": int(inputs["K"][0])} if "K" in inputs else {}
    rows = ({"user_id": int(user_id), **k} for user_id in inputs["USER_ID"])
    graph = serving.graphs["recommend"]
    answers = await _run_rows(graph, _parsed_rows(graph, rows))
    # A catalog smaller than k gives shorter lists; rows of a tensor must be equally long.
    width = min(len(answer["items"]) for answer in answers)
    rows = [answer["items"][:width] for answer in answers]
    return {"ITEM_IDS": np.array([[item["item_id"] for item in row] for row in rows], np.int64),
            "SCORES": np.array([[item["score"] for item in row] for row in rows], np.float32)}


def _json_graph(name: str) -> Callable[[Serving, Tensors], Awaitable[Tensors]]:
    async def run(serving: Serving, inputs: Tensors) -> Tensors:
        try:
            bodies = [json.loads(row) for row in inputs["INPUT"]]
        except (ValueError, TypeError):
            raise InvalidTensor("each INPUT element must be a JSON document (the graph's request body)") from None
        graph = serving.graphs[name]
        answers = await _run_rows(graph, _parsed_rows(graph, bodies))
        return {"OUTPUT": np.array([json.dumps(answer).encode() for answer in answers], dtype=object)}
    return run


def _graph_models(graphs: dict[str, GraphSpec]) -> list[V2Model]:
    """Each declared graph as a model of JSON bodies in, JSON answers out, one per row."""
    rows_in = TensorMetadata(name="INPUT", datatype="BYTES", shape=[-1])
    rows_out = TensorMetadata(name="OUTPUT", datatype="BYTES", shape=[-1])
    return [V2Model(metadata=ModelMetadata(name=name, platform="graph", inputs=[rows_in], outputs=[rows_out]),
                    deployments=tuple(sorted(spec.deployments())), run=_json_graph(name))
            for name, spec in graphs.items()]


def build_registry(models: ModelHandles, graphs: dict[str, GraphSpec], vision: dict,
                   ranker: dict) -> dict[str, V2Model]:
    """Every V2 model by name, shaped by what the vision and ranker deployments `describe`; a typed
    graph model (classify, recommend) stands in for the JSON one where its graph is declared."""
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
    single = [
        (ModelMetadata(name="preprocess", platform="dali", inputs=[image], outputs=[tensor]),
         (models.preprocessor,), _preprocess),
        (ModelMetadata(name="vision", platform="onnxruntime_onnx", inputs=[tensor],
                       outputs=[probabilities, label]), (models.vision,), _vision),
        (ModelMetadata(name="ranker", platform="lightgbm", inputs=[features], outputs=[score]),
         (models.ranker,), _ranker),
    ]
    typed_graphs = [
        (ModelMetadata(name="classify", platform="ensemble", inputs=[image],
                       outputs=[label, score, probabilities]), _classify),
        (ModelMetadata(name="recommend", platform="ensemble", inputs=[user_id, k],
                       outputs=[item_ids, scores]), _recommend),
    ]
    registry = {model.metadata.name: model for model in _graph_models(graphs)}
    for meta, run in typed_graphs:
        if meta.name in registry:
            registry[meta.name] = V2Model(metadata=meta, deployments=registry[meta.name].deployments, run=run)
    for meta, handles, run in single:
        registry[meta.name] = V2Model(metadata=meta, deployments=tuple(h.deployment_name for h in handles), run=run)
    return registry


# Per ingress replica: the shapes only change with new artifacts, and the graphs with new builder
# args; both come with a redeploy.
_registry: dict[str, V2Model] = {}


async def find_model(serving: Serving, name: str) -> V2Model:
    """The named model; raises UnknownModel for a name the platform does not serve."""
    if not _registry:
        models = serving.models
        vision, ranker = await asyncio.gather(models.vision.describe.remote(), models.ranker.describe.remote())
        specs = {name: graph.spec for name, graph in serving.graphs.items()}
        _registry.update(build_registry(models, specs, vision, ranker))
    if name not in _registry:
        raise UnknownModel(f"unknown model {name!r}; the models are {sorted(_registry)}")
    return _registry[name]


def deployments_ready(deployments: Iterable[str]) -> bool:
    """Whether every one of these deployments has serving replicas."""
    statuses = deployment_statuses()
    return all(statuses.get(name) in SERVING for name in deployments)


def server_ready(models: ModelHandles) -> bool:
    return deployments_ready(getattr(models, field.name).deployment_name for field in dataclasses.fields(models))
