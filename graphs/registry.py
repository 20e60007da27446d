"""The declared graphs of an application, checked against the deployments it binds before anything
starts: a graph that names an unknown deployment or method fails the deploy, naming the node."""

from ray.serve import Application

from graphs.functions import FUNCTIONS
from graphs.spec import FunctionNode, GraphSpec, ModelNode


def check_graphs(graphs: dict[str, GraphSpec], deployments: dict[str, type]) -> None:
    """Raise ValueError naming the graph and node for any call the bound deployments cannot take."""
    for graph, spec in graphs.items():
        for name, node in spec.nodes.items():
            if isinstance(node, FunctionNode) and node.function not in FUNCTIONS:
                raise ValueError(f"graph {graph!r}, node {name!r}: unknown function {node.function!r}; "
                                 f"known: {', '.join(sorted(FUNCTIONS))}")
            if not isinstance(node, ModelNode):
                continue
            if node.deployment not in deployments:
                raise ValueError(f"graph {graph!r}, node {name!r}: unknown deployment {node.deployment!r}; "
                                 f"known: {', '.join(sorted(deployments))}")
            if not callable(getattr(deployments[node.deployment], node.method, None)):
                raise ValueError(f"graph {graph!r}, node {name!r}: {node.deployment} has no method {node.method!r}")


def graph_deployments(graphs: dict[str, GraphSpec], bound: dict[str, Application]) -> dict[str, Application]:
    """The bound deployments the graphs call, by name (the ingress gets a handle to each)."""
    used = {deployment for spec in graphs.values() for deployment in spec.deployments()}
    return {name: app for name, app in bound.items() if name in used}
