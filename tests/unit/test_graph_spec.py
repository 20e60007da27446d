"""Invalid graph specs are refused before anything starts, naming the node."""

import pytest
import yaml
from pydantic import ValidationError

from serve_app.app import PlatformArgs, build_app
from serve_app.settings import REPO_ROOT
from graphs.spec import GraphSpec

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
])
def test_invalid_specs_are_rejected_naming_the_problem(spec, message):
    with pytest.raises(ValidationError, match=message):
        GraphSpec.model_validate(spec)


def _args(graphs: dict) -> PlatformArgs:
    args = yaml.safe_load((REPO_ROOT / "serve_config.yaml").read_text())["applications"][0]["args"]
    return PlatformArgs.model_validate({**args, "graphs": graphs})


@pytest.mark.parametrize("node, message", [
    ({"kind": "model", "deployment": "Nope"}, "node 'a': unknown deployment 'Nope'"),
    ({"kind": "model", "deployment": "Ranker", "method": "fly"}, "Ranker has no method 'fly'"),
    ({"kind": "function", "function": "teleport"}, "unknown function 'teleport'"),
])
def test_the_builder_refuses_graphs_the_deployments_cannot_serve(node, message):
    with pytest.raises(ValueError, match=message):
        build_app(_args({"g": _spec({"a": node})}))


def test_the_declared_graphs_of_serve_config_build():
    args = _args(yaml.safe_load((REPO_ROOT / "serve_config.yaml").read_text())["applications"][0]["args"]["graphs"])
    assert {"shape_label", "recommend_explain", "review_analysis"} <= set(args.graphs)
    build_app(args)


def test_the_readme_example_graph_builds():
    readme = (REPO_ROOT / "README.md").read_text()
    snippet = readme.split("A new ensemble over existing deployments")[1].split("```yaml")[1].split("```")[0]
    args = _args(yaml.safe_load(snippet)["graphs"])
    assert "user_digest" in args.graphs
    build_app(args)
