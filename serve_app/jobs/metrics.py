"""Job metrics in Ray's Prometheus export: queue depth per tier, submissions, terminal statuses,
queue wait and run time, redeliveries and dead letters."""

import functools

from ray.serve.metrics import Counter, Gauge, Histogram

_SECONDS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]


class JobMetrics:
    def __init__(self):
        self.depth = Gauge("jobs_queue_depth", "Jobs waiting in the queue, per tier.", ("tier",))
        self.submitted = Counter("jobs_submitted", "Job submissions by tier and outcome.", ("tier", "result"))
        self.finished = Counter("jobs_finished", "Jobs that reached a terminal status.", ("status", "error"))
        self.wait = Histogram("jobs_queue_wait_seconds", "From submission to start.", _SECONDS, ("tier",))
        self.run = Histogram("jobs_run_seconds", "From start to a terminal status.", _SECONDS, ("kind",))
        self.redeliveries = Counter("jobs_redeliveries", "Jobs run again after their consumer died.")
        self.dead_letters = Counter("jobs_dead_letters", "Jobs moved to the dead-letter queue.")

    def queue_depth(self, depth: dict[str, int]) -> None:
        for tier, count in depth.items():
            self.depth.set(count, tags={"tier": tier})


@functools.cache
def job_metrics() -> JobMetrics:
    """One per process, made on first use inside a replica so Serve tags it."""
    return JobMetrics()
