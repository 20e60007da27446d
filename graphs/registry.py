"""The declared graphs of an application, checked against the deployments it binds before anything
starts: a graph that names an unknown deployment or method fails the deploy, naming the node."""

from graphs.functions import FUNCTIONS
from graphs.spec import FunctionNode, GraphSpec, ModelNode
from serve_app.common.llm_tasks import PROMPTS


def check_graphs(graphs: dict[str, GraphSpec], deployments: dict[str, type]) -> None:
    """Raise ValueError naming the graph and node for any call the bound deployments cannot take."""
    for graph, spec in graphs.items():
        for name, node in spec.nodes.items():
            if isinstance(node, FunctionNode) and node.function not in FUNCTIONS:
                raise ValueError(f"graph {graph!r}, node {name!r}: unknown function {node.function!r}; "
                                 f"known: {', '.join(sorted(FUNCTIONS))}")
            prompts_a_task = isinstance(node, FunctionNode) and node.function == "task_prompt"
            if prompts_a_task and (task := node.kwargs.get("task")) not in PROMPTS:
                raise ValueError(f"graph {graph!r}, node {name!r}: unknown task {task!r}; known: {', '.join(PROMPTS)}")
            if not isinstance(node, ModelNode):
                continue
            if node.deployment not in deployments:
                raise ValueError(f"graph {graph!r}, node {name!r}: unknown deployment {node.deployment!r}; "
                                 f"known: {', '.join(sorted(deployments))}")
            if not callable(getattr(deployments[node.deployment], node.method, None)):
                raise ValueError(f"graph {graph!r}, node {name!r}: {node.deployment} has no method {node.method!r}")
