"""The declarative graph spec, read from the builder args in serve_config.yaml: named nodes of kind
model, function, sequence, ensemble, switch and splitter, each with optional policies.

References pick values out of the run's context: `$input` is the request body, `$<node>` a node's
output, and dotted paths go inside them (`$input.user_id`, `$rank.items`)."""

import hashlib
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from graphs.input_schema import InputField
from serve_app.common.model_metadata import DATATYPES, TensorMetadata
from serve_app.common.resilience import BreakerPolicy, RetryPolicy

INPUT = "input"


def ref_root(ref: str) -> str | None:
    """The context key a `$...` reference reads (`input` or a node name); None for a literal."""
    return ref[1:].split(".", 1)[0] if isinstance(ref, str) and ref.startswith("$") else None


class Shadow(BaseModel):
    """A node that receives a copy of the traffic off the critical path; `compare` is the dotted path
    (into both outputs) whose equality counts as agreement."""

    model_config = ConfigDict(extra="forbid")

    node: str
    compare: str | None = None


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeout_s: float | None = Field(default=None, gt=0)
    retry: RetryPolicy = RetryPolicy()
    breaker: BreakerPolicy | None = None
    # Answers instead when the node fails or its breaker is open: a model or a rule-based function node.
    fallback: str | None = None
    shadow: Shadow | None = None

    def children(self) -> list[str]:
        return []

    def refs(self) -> list[Any]:
        return []


class _Call(_Node):
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    # Dotted path into the result to keep as this node's output.
    select: str | None = None

    def refs(self) -> list[Any]:
        return [*self.args, *self.kwargs.values()]


class ModelNode(_Call):
    kind: Literal["model"]
    deployment: str
    method: str = "__call__"


class FunctionNode(_Call):
    """A pure function of the project's registry (graphs/functions.py): glue and rule-based answers."""

    kind: Literal["function"]
    function: str


class SequenceNode(_Node):
    kind: Literal["sequence"]
    steps: list[str] = Field(min_length=1)

    def children(self) -> list[str]:
        return self.steps


class EnsembleNode(_Node):
    """Runs the branches concurrently; the output maps each branch name to its output."""

    kind: Literal["ensemble"]
    branches: list[str] = Field(min_length=2)

    def children(self) -> list[str]:
        return self.branches


class SwitchNode(_Node):
    kind: Literal["switch"]
    on: str
    cases: dict[str, str] = Field(min_length=1)
    default: str | None = None

    def children(self) -> list[str]:
        return [*self.cases.values(), *([self.default] if self.default else [])]

    def refs(self) -> list[Any]:
        return [self.on]


class SplitterNode(_Node):
    """Sends each request to one route, chosen at random in proportion to the weights."""

    kind: Literal["splitter"]
    routes: dict[str, float] = Field(min_length=1)

    @field_validator("routes")
    @classmethod
    def _weights(cls, routes: dict[str, float]) -> dict[str, float]:
        if any(weight < 0 for weight in routes.values()) or sum(routes.values()) <= 0:
            raise ValueError(f"weights must be ≥ 0 with a positive sum, got {routes}")
        return routes

    def children(self) -> list[str]:
        return list(self.routes)


Node = Annotated[ModelNode | FunctionNode | SequenceNode | EnsembleNode | SwitchNode | SplitterNode,
                 Field(discriminator="kind")]


class Dedupe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: list[str] = Field(min_length=1)  # references whose values make the key
    # The lock's lease, renewed while the run lives: how long a key stays locked after its replica died.
    lock_ttl_s: float = Field(default=10, gt=0)
    reuse_window_s: float = Field(default=600, ge=0)


class TensorField(TensorMetadata):
    """One KServe V2 tensor of a graph and the field of each row's body (input) or answer (output) it
    carries, a dotted path (`*` maps over a list: `items.*.score`). A leading -1 in `shape` is the row;
    an input without it gives every row the same value. No field: each row's whole body or answer as
    one JSON document (BYTES)."""

    field: str | None = None

    @model_validator(mode="after")
    def _known(self) -> "TensorField":
        if self.datatype not in DATATYPES:
            raise ValueError(f"tensor {self.name!r}: unknown datatype {self.datatype!r}; known: {sorted(DATATYPES)}")
        if self.field is None and self.datatype != "BYTES":
            raise ValueError(f"tensor {self.name!r} carries whole JSON documents, so it must be BYTES")
        return self


class GraphTensors(BaseModel):
    """The graph as a KServe V2 model; by default one JSON body in and one JSON answer out per row."""

    model_config = ConfigDict(extra="forbid")

    inputs: list[TensorField] = Field(default=[TensorField(name="INPUT", datatype="BYTES", shape=[-1])], min_length=1)
    outputs: list[TensorField] = Field(default=[TensorField(name="OUTPUT", datatype="BYTES", shape=[-1])],
                                       min_length=1)

    @model_validator(mode="after")
    def _rows(self) -> "GraphTensors":
        if not any(tensor.shape[0] == -1 for tensor in self.inputs):
            raise ValueError("at least one input tensor needs a leading -1: its rows are the graph's runs")
        return self


class GraphSpec(BaseModel):
    """One graph: its nodes, the node that runs first, and what the answer is made of."""

    model_config = ConfigDict(extra="forbid")

    nodes: dict[str, Node] = Field(min_length=1)
    root: str
    # The request body's fields; any JSON body is taken when it is left out.
    input: dict[str, InputField] | None = None
    # The whole run's deadline; a client's X-Request-Timeout header may shorten it, never extend it.
    timeout_s: float | None = Field(default=None, gt=0)
    # A reference, or a mapping of answer fields to references; the root's output by default.
    output: str | dict[str, str] | None = None
    # S2's duplicate-work rule: one run per key at a time (409 for a concurrent duplicate), and a recent
    # success inside the window answers again instead of recomputing. Shared across replicas via Redis.
    dedupe: Dedupe | None = None
    tensors: GraphTensors = GraphTensors()
    # The input field that a body sent as it is fills (image/png, image/jpeg, application/octet-stream):
    # no base64, no JSON; every other declared field takes its default.
    raw_body: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "GraphSpec":
        if INPUT in self.nodes:
            raise ValueError(f"no node may be called {INPUT!r}: `$input` is the request")
        if self.root not in self.nodes:
            raise ValueError(f"root {self.root!r} is not a node")
        for name, node in self.nodes.items():
            named = node.children() + [n for n in (node.fallback, node.shadow and node.shadow.node) if n]
            for target in named:
                if target not in self.nodes:
                    raise ValueError(f"node {name!r} names {target!r}, which is not a node")
        outputs = [self.output] if isinstance(self.output, str) else list((self.output or {}).values())
        reads = [(f"node {name!r}", ref) for name, node in self.nodes.items() for ref in node.refs()]
        for reader, ref in reads + [("output", ref) for ref in outputs + (self.dedupe.key if self.dedupe else [])]:
            self._check_read(reader, ref)
        for tensor in self.tensors.inputs:
            if tensor.field is not None:
                self._check_read(f"tensor {tensor.name!r}", f"${INPUT}.{tensor.field}")
        self._check_acyclic()
        self._check_raw_body()
        return self

    def _check_raw_body(self) -> None:
        if self.raw_body is None:
            return
        field = (self.input or {}).get(self.raw_body)
        if field is None or field.type != "string":
            raise ValueError(f"raw_body {self.raw_body!r} is not a declared string field of the input")
        required = [name for name, other in self.input.items()
                    if name != self.raw_body and "default" not in other.model_fields_set]
        if required:
            raise ValueError(f"raw_body: a raw body carries only {self.raw_body!r}, but {required} have no default")

    def _check_read(self, reader: str, ref: Any) -> None:
        """A reference names a node, or a field the declared input has."""
        root = ref_root(ref)
        if root not in (None, INPUT) and root not in self.nodes:
            raise ValueError(f"{reader} reads {ref!r}, but there is no node {root!r}")
        field = ref[1:].split(".")[1] if root == INPUT and "." in ref else None
        if field is not None and self.input is not None and field not in self.input:
            raise ValueError(f"{reader} reads {ref!r}, but the input declares no field {field!r}; "
                             f"it has {sorted(self.input)}")

    def _check_acyclic(self) -> None:
        """A node may not contain, fall back to, shadow or read from itself, directly or through others."""
        edges = {name: set(node.children()) | {n for n in (node.fallback, node.shadow and node.shadow.node) if n}
                 | {r for r in map(ref_root, node.refs()) if r not in (None, INPUT)}
                 for name, node in self.nodes.items()}
        visiting, done = set(), set()

        def visit(name: str, path: list[str]) -> None:
            if name in visiting:
                raise ValueError(f"cycle: {' -> '.join([*path, name])}")
            if name in done:
                return
            visiting.add(name)
            for target in sorted(edges[name]):
                visit(target, [*path, name])
            visiting.discard(name)
            done.add(name)

        for name in self.nodes:
            visit(name, [])

    def version(self) -> str:
        """A short hash of the declaration: a changed graph is a new version."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:12]

    def deployments(self) -> dict[str, set[str]]:
        """Each deployment the graph calls, with the methods it calls on it."""
        used: dict[str, set[str]] = {}
        for node in self.nodes.values():
            if isinstance(node, ModelNode):
                used.setdefault(node.deployment, set()).add(node.method)
        return used
