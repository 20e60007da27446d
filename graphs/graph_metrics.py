"""What the graph policies do, as Ray Serve metrics and as counts a stats route can show."""

from collections import Counter as Tally
from collections import defaultdict

from ray.serve.metrics import Counter, Gauge, Histogram

from serve_app.common.resilience import CircuitBreaker

_BOUNDARIES_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}


class GraphMetrics:
    """One per ingress replica, shared by its graphs; tags are graph and node."""

    def __init__(self):
        keys = ("graph", "node")
        self._latency = Histogram("graph_node_latency_seconds", "Node latency, policies included.", _BOUNDARIES_S, keys)
        self._retries = Counter("graph_node_retries", "Retries of failed node attempts.", keys)
        self._fallbacks = Counter("graph_node_fallbacks", "Answers given by a node's fallback.", keys)
        self._breaker = Gauge("graph_breaker_state", "Circuit breaker: 0 closed, 1 half-open, 2 open.", keys)
        self._shadow = Counter("graph_shadow_comparisons", "Shadow outputs against the primary's.",
                               ("graph", "node", "outcome"))
        self._shadow_latency = Histogram("graph_shadow_latency_seconds", "Shadow latency.", _BOUNDARIES_S, keys)
        self._runs = Counter("graph_runs", "Finished graph runs by result.", ("graph", "result"))
        self._run_latency = Histogram("graph_latency_seconds", "Whole-graph latency.", _BOUNDARIES_S, ("graph",))
        self.counts: dict[tuple[str, str], Tally] = defaultdict(Tally)
        self.breaker_states: dict[tuple[str, str], str] = {}

    def finished(self, graph: str, result: str, seconds: float) -> None:
        self._runs.inc(tags={"graph": graph, "result": result})
        self._run_latency.observe(seconds, tags={"graph": graph})

    def node(self, graph: str, node: str, seconds: float, breaker: CircuitBreaker | None) -> None:
        tags = {"graph": graph, "node": node}
        self._latency.observe(seconds, tags=tags)
        self.counts[graph, node]["calls"] += 1
        if breaker:
            self.breaker_states[graph, node] = breaker.state
            self._breaker.set(BREAKER_STATES[breaker.state], tags=tags)

    def retry(self, graph: str, node: str) -> None:
        self._retries.inc(tags={"graph": graph, "node": node})
        self.counts[graph, node]["retries"] += 1

    def fallback(self, graph: str, node: str) -> None:
        self._fallbacks.inc(tags={"graph": graph, "node": node})
        self.counts[graph, node]["fallbacks"] += 1

    def shadow(self, graph: str, node: str, outcome: str, shadow_s: float, primary_s: float) -> None:
        self._shadow.inc(tags={"graph": graph, "node": node, "outcome": outcome})
        self._shadow_latency.observe(shadow_s, tags={"graph": graph, "node": node})
        self.counts[graph, node][f"shadow_{outcome}"] += 1
        self.counts[graph, node]["shadow_ms_total"] += round(shadow_s * 1000)
        self.counts[graph, node]["primary_ms_total"] += round(primary_s * 1000)

    def snapshot(self, graph: str) -> dict:
        """This replica's counts per node of `graph`, with breaker states."""
        nodes = {node: dict(tally) for (g, node), tally in self.counts.items() if g == graph}
        for (g, node), state in self.breaker_states.items():
            if g == graph:
                nodes.setdefault(node, {})["breaker"] = state
        return nodes
