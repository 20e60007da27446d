"""The V2 model repository: every model a deployment describes (`describe()`, run by its `infer`) and
every declared graph (its `tensors` mapping rows to bodies and answers to tensors, run by the graph
runner). Nothing here knows a model by name."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict
from ray.serve.handle import DeploymentHandle

from graphs.executor import pick
from graphs.runner import GraphRunner
from graphs.spec import TensorField
from serve_app.common.errors import InvalidTensor, ModelUnavailable, UnknownModel, ValidationFailed
from serve_app.common.model_metadata import DATATYPES, ModelMetadata, Tensors

# Each row is one handle call or graph run: the bound keeps one request from filling a deployment's
# max_queued_requests (serve_config.yaml), which would reject everyone's calls.
MAX_BATCH = 64
# How long a deployment may take to describe itself before the lookup goes on without it.
DESCRIBE_TIMEOUT_S = 5.0


class V2Model(BaseModel):
    """A model as V2 clients see it: metadata, the deployments it needs, and how to run it."""

    model_config = ConfigDict(frozen=True)

    metadata: ModelMetadata
    deployments: tuple[str, ...]  # must all be up for the model to be ready
    run: Callable[[Tensors], Awaitable[Tensors]]

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


def _value(item: Any) -> Any:
    """A tensor element (or sub-array) as the plain Python value a JSON body would hold; bytes stay bytes."""
    return item.tolist() if isinstance(item, np.ndarray | np.generic) else item


def rows_of(tensors: list[TensorField], inputs: Tensors) -> list[Any]:
    """One request body per row of the batched input tensors."""
    given = [tensor for tensor in tensors if tensor.name in inputs]
    sizes = {len(inputs[tensor.name]) for tensor in given if tensor.shape[0] == -1}
    if len(sizes) != 1:
        raise InvalidTensor(f"the batched inputs must have one batch size, not {sorted(sizes)}")
    count = sizes.pop()
    rows: list[Any] = [{} for _ in range(count)]
    for tensor in given:
        array = inputs[tensor.name]
        values = list(array) if tensor.shape[0] == -1 else [array.reshape(-1)[0] if array.size == 1 else array] * count
        for index, value in enumerate(map(_value, values)):
            if tensor.field is None:
                try:
                    rows[index] = json.loads(value)
                except (ValueError, TypeError):
                    raise InvalidTensor(f"each {tensor.name} element must be a JSON document (the graph's "
                                        "request body)") from None
            else:
                *parents, leaf = tensor.field.split(".")
                target = rows[index]
                for part in parents:
                    target = target.setdefault(part, {})
                target[leaf] = value
    return rows


def _select(answer: Any, path: str) -> Any:
    """`path` in an answer; a `*` part maps the rest of the path over a list."""
    head, star, rest = path.partition(".*")
    value = pick(answer, head)
    if not star:
        return value
    return [_select(item, rest.removeprefix(".")) for item in value]


def tensors_of(tensors: list[TensorField], answers: list[Any]) -> Tensors:
    """The output tensors of the rows' answers."""
    outputs = {}
    for tensor in tensors:
        if tensor.field is None:
            values = [json.dumps(answer).encode() for answer in answers]
        else:
            values = [_select(answer, tensor.field) for answer in answers]
        if values and isinstance(values[0], list):
            # A shorter list in one row (a catalog smaller than k) cuts every row: rows are equally long.
            width = min(len(value) for value in values)
            values = [value[:width] for value in values]
        if tensor.datatype == "BYTES":
            values = np.array([value.encode() if isinstance(value, str) else value for value in values], dtype=object)
        outputs[tensor.name] = np.array(values, DATATYPES[tensor.datatype])
    return outputs


class ModelRepository:
    """The models of one ingress replica: described deployments first, declared graphs after."""

    def __init__(self, handles: dict[str, DeploymentHandle], runner: GraphRunner):
        self.handles, self.runner = handles, runner
        self._models: dict[str, V2Model] = {}  # by model name, from the deployments described so far
        self._described: set[str] = set()  # deployments that answered describe()
        self._graphs: dict[str, V2Model] = {}

    async def find(self, name: str) -> V2Model:
        """The named model; UnknownModel for a name the platform does not serve."""
        if name not in self._models and name not in self.runner.specs:
            await self._describe_missing()
        if name in self._models:
            return self._models[name]
        if name in self.runner.specs:
            if name not in self._graphs:
                self._graphs[name] = self._graph_model(name)
            return self._graphs[name]
        silent = sorted(set(self.handles) - self._described)
        if silent:
            raise ModelUnavailable(f"no model {name!r} yet: {', '.join(silent)} did not describe their models")
        raise UnknownModel(f"unknown model {name!r}; the models are {sorted({*self._models, *self.runner.specs})}")

    async def _describe_missing(self) -> None:
        missing = [deployment for deployment in self.handles if deployment not in self._described]
        answers = await asyncio.gather(*(asyncio.wait_for(self.handles[d].describe.remote(), DESCRIBE_TIMEOUT_S)
                                         for d in missing), return_exceptions=True)
        for deployment, metadata in zip(missing, answers):
            if isinstance(metadata, BaseException):
                continue
            self._described.add(deployment)
            if metadata.inputs:  # a model without tensors (an LLM, the feature store) is not a V2 model
                self._models.setdefault(metadata.name, V2Model(
                    metadata=metadata, deployments=(deployment,), run=self.handles[deployment].infer.remote))

    def _graph_model(self, name: str) -> V2Model:
        spec = self.runner.specs[name]

        async def run(inputs: Tensors) -> Tensors:
            rows = rows_of(spec.tensors.inputs, inputs)
            try:
                # All or nothing: the first failing row cancels the others' runs.
                async with asyncio.TaskGroup() as group:
                    runs = [group.create_task(self.runner.run(name, row)) for row in rows]
            except ExceptionGroup as failed:
                error = failed.exceptions[0]
                raise (InvalidTensor(error.summary()) if isinstance(error, ValidationFailed) else error) from None
            return tensors_of(spec.tensors.outputs, [task.result() for task in runs])

        metadata = ModelMetadata(name=name, versions=[spec.version()], platform="ensemble",
                                 inputs=spec.tensors.inputs, outputs=spec.tensors.outputs)
        return V2Model(metadata=metadata, deployments=tuple(sorted(spec.deployments())), run=run)
