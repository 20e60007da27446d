"""One executor for every declared graph: runs nodes over deployment handles, branches concurrently,
with each node's timeout, retries, circuit breaker, fallback and shadow."""

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ray.serve.handle import DeploymentHandle

from graphs.functions import FUNCTIONS
from graphs.graph_metrics import GraphMetrics
from graphs.spec import INPUT, EnsembleNode, FunctionNode, GraphSpec, ModelNode, SequenceNode, SwitchNode
from serve_app.common.errors import (CircuitOpen, DeadlineExceeded, NodeTimeout, PlatformError, ValidationFailed,
                                     status_of)
from serve_app.common.resilience import CircuitBreaker, call_with_retries

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


@dataclass
class _Run:
    """One run's values by context key (`input` and each finished node) and its deadline, if any."""

    values: dict[str, Any]
    deadline: float | None  # time.monotonic()

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()


class LiveCalls(Protocol):
    """What the ingress gives the executor to fail fast on a deployment with no live replica."""

    async def call(self, deployment: str, start: Callable[[], Awaitable[Any]]) -> Any: ...


class GraphExecutor:
    """Runs one graph; breakers and shadows live as long as the executor (one per ingress replica)."""

    def __init__(self, name: str, spec: GraphSpec, handles: dict[str, DeploymentHandle],
                 metrics: GraphMetrics, rng: random.Random | None = None,
                 liveness: "LiveCalls | None" = None):
        self.name, self.spec, self.handles, self.metrics = name, spec, handles, metrics
        self.rng = rng or random.Random()
        # Fails a model call at once when its deployment has no live replica, so the node fails (or falls
        # back) instead of waiting for one (serve_app/readiness.py).
        self.liveness = liveness
        self.breakers = {node: CircuitBreaker(n.breaker) for node, n in spec.nodes.items() if n.breaker}
        self._shadows: set[asyncio.Task] = set()

    async def run(self, payload: Any, timeout_s: float | None = None) -> Any:
        """The graph's answer to a parsed payload (`$input`), within the graph's timeout_s and `timeout_s`."""
        limits = [limit for limit in (self.spec.timeout_s, timeout_s) if limit is not None]
        run = _Run({INPUT: payload}, time.monotonic() + min(limits) if limits else None)
        result = await self._node(self.spec.root, run)
        if self.spec.output is None:
            return result
        return resolve(self.spec.output, run.values, "output")

    async def _node(self, name: str, run: _Run) -> Any:
        node = self.spec.nodes[name]
        breaker = self.breakers.get(name)
        started = time.perf_counter()
        try:
            if breaker and not breaker.allow():
                raise CircuitOpen(f"node {name!r} of graph {self.name!r} is failing; its circuit is open")
            result = await call_with_retries(lambda _: self._attempt(name, run), node.retry, rng=self.rng,
                                             on_retry=lambda *_: self.metrics.retry(self.name, name),
                                             deadline=run.deadline)
            if breaker:
                breaker.record_success()
        except Exception as error:
            # A passed deadline or an open circuit says nothing of the node's own health.
            counts = not isinstance(error, CircuitOpen | DeadlineExceeded) and status_of(error) >= 500
            if breaker and counts:
                breaker.record_failure()
            if node.fallback is None:
                raise
            logger.warning("graph node failed; fallback answers", extra={
                "graph": self.name, "node": name, "fallback": node.fallback, "problem": type(error).__name__})
            self.metrics.fallback(self.name, name)
            result = await self._node(node.fallback, run)
        finally:
            self.metrics.node(self.name, name, time.perf_counter() - started, breaker)
        run.values[name] = result
        if node.shadow:
            self._mirror(name, node.shadow, run, result, time.perf_counter() - started)
        return result

    async def _attempt(self, name: str, run: _Run) -> Any:
        """One try of a node, cut at its timeout_s or at the run's deadline, whichever comes first;
        cancelling the await cancels the call inside the deployment too."""
        node, remaining = self.spec.nodes[name], run.remaining()
        if remaining is not None and remaining <= 0:
            raise DeadlineExceeded(f"graph {self.name!r} ran out of time before node {name!r}")
        by_deadline = remaining is not None and (node.timeout_s is None or remaining < node.timeout_s)
        limit = remaining if by_deadline else node.timeout_s
        try:
            async with asyncio.timeout(limit):
                return await self._execute(name, node, run)
        except TimeoutError:
            if by_deadline:
                raise DeadlineExceeded(f"graph {self.name!r} ran out of time in node {name!r}") from None
            raise NodeTimeout(f"node {name!r} of graph {self.name!r} took over {node.timeout_s:g} s") from None

    async def _execute(self, name: str, node, run: _Run) -> Any:
        context = run.values
        if isinstance(node, ModelNode | FunctionNode):
            args = resolve(node.args, context, name)
            kwargs = resolve(node.kwargs, context, name)
            if isinstance(node, FunctionNode):
                result = FUNCTIONS[node.function](*args, **kwargs)
            else:
                handle = self.handles[node.deployment]
                method = handle if node.method == "__call__" else getattr(handle, node.method)
                if self.liveness is None:
                    result = await method.remote(*args, **kwargs)
                else:
                    result = await self.liveness.call(node.deployment, lambda: method.remote(*args, **kwargs))
            return pick(result, node.select)
        if isinstance(node, SequenceNode):
            for step in node.steps:
                result = await self._node(step, run)
            return result
        if isinstance(node, EnsembleNode):
            # A TaskGroup cancels the other branches as soon as one fails (and all of them if the client goes).
            try:
                async with asyncio.TaskGroup() as group:
                    tasks = {branch: group.create_task(self._node(branch, run)) for branch in node.branches}
            except ExceptionGroup as failed:
                raise failed.exceptions[0] from None
            return {branch: task.result() for branch, task in tasks.items()}
        if isinstance(node, SwitchNode):
            value = str(resolve(node.on, context, name))
            target = node.cases.get(value, node.default)
            if target is None:
                raise ValidationFailed(f"node {name!r} has no case for {value!r}")
            return await self._node(target, run)
        routes, weights = zip(*node.routes.items())
        return await self._node(self.rng.choices(routes, weights)[0], run)

    def _mirror(self, name: str, shadow, run: _Run, primary: Any, primary_s: float) -> None:
        """Run the shadow on a copy of the context, off the critical path; it never touches the answer."""
        async def compare() -> None:
            started = time.perf_counter()
            try:
                mirrored = await self._node(shadow.node, _Run(dict(run.values), run.deadline))
                agree = pick(mirrored, shadow.compare) == pick(primary, shadow.compare)
                outcome = "agree" if agree else "disagree"
            except Exception:  # a failing shadow is a measurement, not an error of the request
                outcome = "error"
            self.metrics.shadow(self.name, name, outcome, time.perf_counter() - started, primary_s)

        task = asyncio.get_running_loop().create_task(compare())
        self._shadows.add(task)  # keep a reference, or the loop may drop the task half-way
        task.add_done_callback(self._shadows.discard)
