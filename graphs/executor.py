"""One executor for every declared graph: runs nodes over deployment handles, branches concurrently,
with each node's timeout, retries, circuit breaker, fallback and shadow."""

import asyncio
import logging
import random
import time
from typing import Any

from ray.serve.handle import DeploymentHandle

from graphs.functions import FUNCTIONS
from graphs.graph_metrics import GraphMetrics
from graphs.spec import INPUT, EnsembleNode, FunctionNode, GraphSpec, ModelNode, SequenceNode, SwitchNode
from serve_app.errors import CircuitOpen, NodeTimeout, PlatformError, ValidationFailed
from serve_app.resilience import CircuitBreaker, call_with_retries

logger = logging.getLogger("ray.serve")


def pick(value: Any, path: str | None) -> Any:
    """`value` followed along a dotted path of keys, list indexes and attributes."""
    for part in (path.split(".") if path else []):
        if isinstance(value, dict):
            value = value[part]
        elif isinstance(value, list | tuple):
            value = value[int(part)]
        else:
            value = getattr(value, part)
    return value


def resolve(value: Any, context: dict[str, Any], node: str) -> Any:
    """Literals as they are; `$...` references read from the context; containers resolved inside."""
    if isinstance(value, dict):
        return {key: resolve(item, context, node) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, context, node) for item in value]
    if not (isinstance(value, str) and value.startswith("$")):
        return value
    root, _, path = value[1:].partition(".")
    try:
        return pick(context[root], path)
    except (KeyError, IndexError, AttributeError, ValueError, TypeError):
        if root == INPUT:
            raise ValidationFailed(f"node {node!r} needs {value!r}, which the request does not have") from None
        raise PlatformError(f"node {node!r} reads {value!r}, which is not there") from None


class GraphExecutor:
    """Runs one graph; breakers and shadows live as long as the executor (one per ingress replica)."""

    def __init__(self, name: str, spec: GraphSpec, handles: dict[str, DeploymentHandle],
                 metrics: GraphMetrics, rng: random.Random | None = None):
        self.name, self.spec, self.handles, self.metrics = name, spec, handles, metrics
        self.rng = rng or random.Random()
        self.breakers = {node: CircuitBreaker(n.breaker) for node, n in spec.nodes.items() if n.breaker}
        self._shadows: set[asyncio.Task] = set()

    async def run(self, payload: Any) -> Any:
        context: dict[str, Any] = {INPUT: payload}
        result = await self._node(self.spec.root, context)
        if self.spec.output is None:
            return result
        return resolve(self.spec.output, context, "output")

    async def _node(self, name: str, context: dict[str, Any]) -> Any:
        node = self.spec.nodes[name]
        breaker = self.breakers.get(name)
        started = time.perf_counter()
        try:
            if breaker and not breaker.allow():
                raise CircuitOpen(f"node {name!r} of graph {self.name!r} is failing; its circuit is open")
            result = await call_with_retries(lambda _: self._attempt(name, context), node.retry,
                                             rng=self.rng, on_retry=lambda *_: self.metrics.retry(self.name, name))
            if breaker:
                breaker.record_success()
        except Exception as error:
            if breaker and not isinstance(error, CircuitOpen) and getattr(error, "status", 500) >= 500:
                breaker.record_failure()
            if node.fallback is None:
                raise
            logger.warning("graph node failed; fallback answers", extra={
                "graph": self.name, "node": name, "fallback": node.fallback, "problem": type(error).__name__})
            self.metrics.fallback(self.name, name)
            result = await self._node(node.fallback, context)
        finally:
            self.metrics.node(self.name, name, time.perf_counter() - started, breaker)
        context[name] = result
        if node.shadow:
            self._mirror(name, node.shadow, context, result, time.perf_counter() - started)
        return result

    async def _attempt(self, name: str, context: dict[str, Any]) -> Any:
        node = self.spec.nodes[name]
        if node.timeout_s is None:
            return await self._execute(name, node, context)
        try:
            async with asyncio.timeout(node.timeout_s):
                return await self._execute(name, node, context)
        except TimeoutError:
            raise NodeTimeout(f"node {name!r} of graph {self.name!r} took over {node.timeout_s:g} s") from None

    async def _execute(self, name: str, node, context: dict[str, Any]) -> Any:
        if isinstance(node, ModelNode | FunctionNode):
            args = resolve(node.args, context, name)
            kwargs = resolve(node.kwargs, context, name)
            if isinstance(node, FunctionNode):
                result = FUNCTIONS[node.function](*args, **kwargs)
            else:
                handle = self.handles[node.deployment]
                method = handle if node.method == "__call__" else getattr(handle, node.method)
                result = await method.remote(*args, **kwargs)
            return pick(result, node.select)
        if isinstance(node, SequenceNode):
            for step in node.steps:
                result = await self._node(step, context)
            return result
        if isinstance(node, EnsembleNode):
            # A TaskGroup cancels the other branches as soon as one fails (and all of them if the client goes).
            try:
                async with asyncio.TaskGroup() as group:
                    tasks = {branch: group.create_task(self._node(branch, context)) for branch in node.branches}
            except ExceptionGroup as failed:
                raise failed.exceptions[0] from None
            return {branch: task.result() for branch, task in tasks.items()}
        if isinstance(node, SwitchNode):
            value = str(resolve(node.on, context, name))
            target = node.cases.get(value, node.default)
            if target is None:
                raise ValidationFailed(f"node {name!r} has no case for {value!r}")
            return await self._node(target, context)
        routes, weights = zip(*node.routes.items())
        return await self._node(self.rng.choices(routes, weights)[0], context)

    def _mirror(self, name: str, shadow, context: dict[str, Any], primary: Any, primary_s: float) -> None:
        """Run the shadow on a copy of the context, off the critical path; it never touches the answer."""
        async def compare() -> None:
            started = time.perf_counter()
            try:
                mirrored = await self._node(shadow.node, dict(context))
                agree = pick(mirrored, shadow.compare) == pick(primary, shadow.compare)
                outcome = "agree" if agree else "disagree"
            except Exception:  # a failing shadow is a measurement, not an error of the request
                outcome = "error"
            self.metrics.shadow(self.name, name, outcome, time.perf_counter() - started, primary_s)

        task = asyncio.get_running_loop().create_task(compare())
        self._shadows.add(task)  # keep a reference, or the loop may drop the task half-way
        task.add_done_callback(self._shadows.discard)
