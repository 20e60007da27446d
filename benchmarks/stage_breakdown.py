"""Per-stage time of a platform's request path, from its own metrics in Ray's Prometheus endpoint: the mean
of each histogram over a load window (the change of its _sum over the change of its _count)."""

import contextlib
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import ray
from prometheus_client.parser import text_string_to_metric_families


# Metrics reach the endpoint every second (local_platform's report interval): wait that long, twice.
SETTLE_S = 2.5


@dataclass
class Window:
    stages: dict[str, float] = field(default_factory=dict)  # stage → mean ms per call over the window


def _totals(text: str, graph: str) -> dict[str, tuple[float, float]]:
    """(sum, count) per stage: the Ingress's and each model deployment's processing time (ms), the graph
    run and each of its nodes (s, made ms)."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels, suffix = sample.labels, sample.name.rsplit("_", 1)[-1]
            if suffix not in ("sum", "count"):
                continue
            if family.name == "ray_serve_deployment_processing_latency_ms":
                stage = f"{labels['deployment']} processing"
            elif family.name == "ray_graph_latency_seconds" and labels.get("graph") == graph:
                stage = "graph run"
            elif family.name == "ray_graph_node_latency_seconds" and labels.get("graph") == graph:
                stage = f"node {labels['node']}"
            else:
                continue
            in_seconds = suffix == "sum" and family.name.endswith("_seconds")
            totals[stage][suffix == "count"] += sample.value * (1000.0 if in_seconds else 1.0)
    return {stage: (total, count) for stage, (total, count) in totals.items()}


class StageClock:
    """Reads the local node's metrics endpoint, on the driver's cluster."""

    def __init__(self):
        self.metrics_url = f"http://127.0.0.1:{ray.nodes()[0]['MetricsExportPort']}/metrics"

    def _read(self, graph: str) -> dict[str, tuple[float, float]]:
        return _totals(httpx.get(self.metrics_url, timeout=10).text, graph)

    @contextlib.contextmanager
    def window(self, graph: str) -> Iterator[Window]:
        """Mean ms per call of every stage that ran inside the `with` block."""
        time.sleep(SETTLE_S)
        before, window = self._read(graph), Window()
        yield window
        time.sleep(SETTLE_S)
        for stage, (total, count) in sorted(self._read(graph).items()):
            calls = count - before.get(stage, (0.0, 0.0))[1]
            if calls > 0:
                window.stages[stage] = round((total - before.get(stage, (0.0, 0.0))[0]) / calls, 2)
