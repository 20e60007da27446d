"""Invalid graph specs are refused before anything starts, naming the node."""

import pytest
import yaml
from pydantic import ValidationError

from graphs.input_schema import InputField, input_model
from graphs.spec import GraphSpec, ModelNode
from serve_app.app import PlatformArgs, build_app, serve_config_args
from serve_app.common.settings import REPO_ROOT

ECHO = {"kind": "function", "function": "constant", "args": [1]}


def _spec(nodes: dict, root: str = "a", **extra) -> dict:
    return {"root": root, "nodes": nodes, **extra}


@pytest.mark.parametrize("spec, message", [
    (_spec({"a": {"kind": "sequence", "steps": ["b"]}, "b": {"kind": "sequence", "steps": ["a"]}}), "cycle: a -> b -> a"),
    (_spec({"a": {**ECHO, "args": ["$b"]}, "b": {**ECHO, "args": ["$a"]}}), "cycle"),
    (_spec({"a": {"kind": "sequence", "steps": ["ghost"]}}), "node 'a' names 'ghost'"),
    (_spec({"a": {**ECHO, "args": ["$ghost.field"]}}), r"node 'a' reads '\$ghost\.field'"),
    (_spec({"a": ECHO}, root="b"), "root 'b' is not a node"),
    (_spec({"a": {"kind": "splitter", "routes": {"b": -1, "c": 2}}, "b": ECHO, "c": ECHO}), "weights"),
    (_spec({"a": {"kind": "splitter", "routes": {"b": 0}}, "b": ECHO}), "weights"),
    (_spec({"a": {**ECHO, "fallback": "missing"}}), "node 'a' names 'missing'"),
    (_spec({"a": ECHO}, output={"x": "$nowhere"}), r"output reads '\$nowhere'"),
    (_spec({"a": {"kind": "ensemble", "branches": ["a", "a"]}}), "cycle"),
    (_spec({"a": {**ECHO, "retry": {"attempts": 0}}}), "attempts"),
    (_spec({"a": {**ECHO, "colour": "red"}}), "colour"),
    (_spec({"a": {**ECHO, "args": ["$input.usr_id"]}}, input={"user_id": {"type": "integer"}}),
     r"node 'a' reads '\$input\.usr_id', but the input declares no field 'usr_id'"),
    (_spec({"a": ECHO}, input={"user_id": {"type": "integer"}},
           tensors={"inputs": [{"name": "USER", "datatype": "INT64", "shape": [-1], "field": "usr_id"}]}),
     "tensor 'USER' reads"),
    (_spec({"a": ECHO}, tensors={"inputs": [{"name": "X", "datatype": "FP128", "shape": [-1], "field": "x"}]}),
     "unknown datatype 'FP128'"),
    (_spec({"a": ECHO}, tensors={"outputs": [{"name": "X", "datatype": "FP32", "shape": [-1]}]}), "must be BYTES"),
    (_spec({"a": ECHO}, tensors={"inputs": [{"name": "K", "datatype": "INT32", "shape": [1], "field": "k"}]}),
     "leading -1"),
    (_spec({"a": ECHO}, input={"image": {"type": "string"}}, raw_body="picture"),
     "raw_body 'picture' is not a declared string field"),
    (_spec({"a": ECHO}, input={"image": {"type": "integer"}}, raw_body="image"), "not a declared string field"),
    (_spec({"a": ECHO}, input={"image": {"type": "string"}, "k": {"type": "integer"}}, raw_body="image"),
     r"\['k'\] have no default"),
])
def test_invalid_specs_are_rejected_naming_the_problem(spec, message):
    with pytest.raises(ValidationError, match=message):
        GraphSpec.model_validate(spec)


def _args(graphs: dict) -> PlatformArgs:
    specs = {name: GraphSpec.model_validate(spec) for name, spec in graphs.items()}
    return serve_config_args().model_copy(update={"graphs": specs})


@pytest.mark.parametrize("node, message", [
    ({"kind": "model", "deployment": "Nope"}, "node 'a': unknown deployment 'Nope'"),
    ({"kind": "model", "deployment": "Ranker", "method": "fly"}, "Ranker has no method 'fly'"),
    ({"kind": "function", "function": "teleport"}, "unknown function 'teleport'"),
    ({"kind": "function", "function": "task_prompt", "kwargs": {"task": "poem"}}, "unknown task 'poem'"),
])
def test_the_builder_refuses_graphs_the_deployments_cannot_serve(node, message):
    with pytest.raises(ValueError, match=message):
        build_app(_args({"g": _spec({"a": node})}))


@pytest.mark.parametrize("models, message", [
    ({"Ranker": {"import_path": "deployments.ranker"}}, "import_path"),
    ({"Ranker": {"import_path": "deployments.ranker:top_k"}}, "not a @serve.deployment"),
    ({"Ranker": {"import_path": "deployments.ranker:Ranker", "colour": "red"}}, "colour"),
])
def test_the_builder_refuses_a_model_entry_it_cannot_bind(models, message):
    with pytest.raises((ValueError, ValidationError), match=message):
        build_app(PlatformArgs(models=models, llm={"generators": ["Ranker"], "embedder": "Ranker"}))


def test_the_llm_apis_must_name_bound_models():
    with pytest.raises(ValidationError, match=r"llm.generators\[0\] names 'LLMServer'"):
        PlatformArgs(models={"Ranker": {"import_path": "deployments.ranker:Ranker"}})


def test_the_declared_graphs_of_serve_config_build():
    args = serve_config_args()
    assert {"classify", "recommend", "caption", "recommend_explain", "review_analysis"} <= set(args.graphs)
    build_app(args)


def test_the_docs_example_graph_builds():
    page = (REPO_ROOT / "docs" / "graphs.md").read_text()
    snippet = page.split("A new ensemble over existing deployments")[1].split("```yaml")[1].split("```")[0]
    args = _args(yaml.safe_load(snippet)["graphs"])
    assert "user_digest" in args.graphs
    build_app(args)


RECOMMEND_INPUT = {"user_id": {"type": "integer", "ge": 0}, "k": {"type": "integer", "ge": 1, "le": 100, "default": 10}}


def _input(fields: dict) -> type:
    return input_model("g", {name: InputField(**field) for name, field in fields.items()})


def test_a_declared_input_fills_defaults_and_takes_numeric_strings_for_integers():
    assert _input(RECOMMEND_INPUT).model_validate({"user_id": "42"}).model_dump() == {"user_id": 42, "k": 10}


@pytest.mark.parametrize("body, field", [
    ({"user_id": True}, "user_id"), ({"user_id": 1.0}, "user_id"), ({"user_id": -1}, "user_id"),
    ({"user_id": 1, "k": 0}, "k"), ({"user_id": 1, "colour": "red"}, "colour"), ({}, "user_id"),
])
def test_a_declared_input_refuses_bodies_that_do_not_fit_naming_the_field(body, field):
    with pytest.raises(ValidationError) as refused:
        _input(RECOMMEND_INPUT).model_validate(body)
    assert [issue["loc"] for issue in refused.value.errors()] == [(field,)]


@pytest.mark.parametrize("field, message", [
    ({"type": "boolean", "min_length": 1}, "min_length/max_length bound strings"),
    ({"type": "string", "ge": 0}, "ge/le bound numbers"),
    ({"type": "date"}, "type"),
])
def test_input_fields_whose_bounds_do_not_fit_their_type_are_refused_at_deploy(field, message):
    with pytest.raises(ValidationError, match=message):
        GraphSpec.model_validate(_spec({"a": ECHO}, input={"x": field}))


def test_every_model_node_of_the_built_in_graphs_has_a_timeout():
    """A hung model replica costs a request at most its node's timeout_s, never the proxy's 60 s."""
    untimed = [f"{name}.{node_name}" for name, spec in serve_config_args().graphs.items()
               for node_name, node in spec.nodes.items() if isinstance(node, ModelNode) and node.timeout_s is None]
    assert untimed == []
