"""The one place a declared graph is run, whatever protocol asked (HTTP JSON, KServe V2, jobs): the
body checked against the declared input, the deadline, S2's duplicate-work rule, the completion log
line and the graph-level metrics. Protocol adapters translate to and from it; none re-implements a rule."""

import asyncio
import logging
import time
from typing import Any

from pydantic import BaseModel, ValidationError
from ray.serve.handle import DeploymentHandle

from graphs.executor import GraphExecutor, resolve
from graphs.graph_metrics import GraphMetrics
from graphs.input_schema import input_model
from graphs.spec import INPUT, GraphSpec
from serve_app.common.analysis_lock import AnalysisLock
from serve_app.common.errors import UnknownGraph, ValidationFailed, status_of

logger = logging.getLogger("ray.serve")


def _outcome(error: BaseException | None) -> str:
    if error is None:
        return "SUCCESS"
    if isinstance(error, asyncio.CancelledError):  # the caller went away
        return "CANCELLED"
    return "REJECTED" if status_of(error) < 500 else "FAILED"


class GraphRunner:
    """Every declared graph of one ingress replica, by name; breakers and shadows live as long as it."""

    def __init__(self, specs: dict[str, GraphSpec], handles: dict[str, DeploymentHandle], redis_url: str,
                 metrics: GraphMetrics | None = None, **executor_options):
        self.specs = specs
        self.metrics = metrics or GraphMetrics()
        self.executors = {name: GraphExecutor(name, spec, handles, self.metrics, **executor_options)
                          for name, spec in specs.items()}
        self.inputs = {name: input_model(name, spec.input) for name, spec in specs.items() if spec.input is not None}
        self.locks = {name: AnalysisLock(redis_url, spec.dedupe.lock_ttl_s, spec.dedupe.reuse_window_s, f"graph:{name}")
                      for name, spec in specs.items() if spec.dedupe}

    def spec(self, name: str) -> GraphSpec:
        """The named graph's spec; UnknownGraph (404) for a name nobody declared."""
        if name not in self.specs:
            raise UnknownGraph(f"no graph {name!r}; declared: {', '.join(sorted(self.specs)) or 'none'}")
        return self.specs[name]

    def input_model(self, name: str) -> type[BaseModel] | None:
        """The pydantic model of the graph's declared body; None when it takes any JSON body."""
        self.spec(name)
        return self.inputs.get(name)

    def parse(self, name: str, body: Any) -> Any:
        """The body as the graph's `$input`, defaults filled in; ValidationFailed naming each bad field."""
        model = self.input_model(name)
        if model is None:
            return body
        try:
            return model.model_validate(body).model_dump()
        except ValidationError as error:
            fields = [{"field": ".".join(map(str, issue["loc"])) or "body", "message": issue["msg"]}
                      for issue in error.errors()]
            raise ValidationFailed("request body failed validation", errors=fields) from None

    def dedupe_key(self, name: str, payload: Any) -> str | None:
        """The key a run of `payload` (a parsed body) holds under the graph's dedupe rule; None without one."""
        if (dedupe := self.spec(name).dedupe) is None:
            return None
        return ":".join(str(part) for part in resolve(dedupe.key, {INPUT: payload}, "dedupe"))

    async def run(self, name: str, body: Any, timeout_s: float | None = None) -> Any:
        """The graph's answer to a request body, within the graph's timeout_s and `timeout_s`; a graph
        with `dedupe` refuses a concurrent duplicate (DuplicateAnalysis, 409) and reuses a recent answer."""
        started, error = time.perf_counter(), None
        try:
            payload = self.parse(name, body)
            executor = self.executors[name]
            if (lock := self.locks.get(name)) is None:
                return await executor.run(payload, timeout_s)
            return await lock.run(self.dedupe_key(name, payload), lambda: executor.run(payload, timeout_s))
        except BaseException as failure:  # a cancelled run (the client left) is logged too
            error = failure
            raise
        finally:
            seconds, result = time.perf_counter() - started, _outcome(error)
            self.metrics.finished(name, result, seconds)
            logger.info("graph finished", extra={
                "graph": name, "result": result, "latency_ms": round(seconds * 1000, 2),
                **({"problem": getattr(error, "title", type(error).__name__)} if error else {})})

    def stats(self, name: str) -> dict:
        """This replica's policy counts per node: calls, retries, fallbacks, breaker state, shadow agreement."""
        self.spec(name)
        return self.metrics.snapshot(name)
