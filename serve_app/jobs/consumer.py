"""JobConsumer: takes jobs from the Redis queue (Ray Serve's Celery task consumer: acks late, requeued
when a worker is lost) and runs each through the ingress, which replays its request in-process.

The consumer owns what is about running a job, not its request: claiming it (a duplicate delivery is
dropped), the lease that marks it alive, S0's timeout and concurrency-limit outcomes, cancellation,
retries of transient failures and the dead letter after the last one."""

import asyncio
import logging
import threading
import time
from dataclasses import dataclass

from celery.exceptions import Reject
from ray import serve
from ray.serve.context import _set_request_context
from ray.serve.handle import DeploymentHandle
from ray.serve.task_consumer import task_consumer, task_handler

from serve_app.common.errors import JobStoreUnavailable, as_platform_error, is_retryable, status_of
from serve_app.common.settings import PlatformSettings
from serve_app.jobs.metrics import job_metrics
from serve_app.jobs.model import Job, JobOutcome
from serve_app.jobs.queue import JobQueue
from serve_app.jobs.settings import RUN_JOB, JobSettings, task_processor_config
from serve_app.jobs.store import JobStore
from serve_app.ops.drain import DrainWatch

logger = logging.getLogger("ray.serve")
# How often a running job's consumer renews its lease and looks for a cancel or its deadline.
_TICK_S = 0.25
# Answers that mean "try again later" (a model loading, a replica gone), as opposed to the job's own failure.
_TRANSIENT = {"model_unavailable", "lock_store_unavailable", "job_store_unavailable", "circuit_open"}
_TIMEOUTS = {"timeout", "deadline_exceeded", "node_timeout"}


def _persist(write, for_s: float = 60.0):
    """`write()`, tried again while Redis is away (a restart takes seconds): an ending is never dropped."""
    give_up = time.monotonic() + for_s
    while True:
        try:
            return write()
        except JobStoreUnavailable:
            if time.monotonic() > give_up:
                raise
            time.sleep(0.5)


def _hand_back(job_id: str) -> None:
    """Put the job's message back on the queue as it was (no retry counted) for a consumer that is not
    draining; the pause keeps a draining worker that is still being handed jobs from spinning."""
    logger.info("draining: job handed back to the queue", extra={"request_id": job_id})
    time.sleep(1.0)
    raise Reject("draining", requeue=True)


class TransientFailure(Exception):
    """Raised out of the task so Celery retries it with backoff (and dead-letters it after the last)."""


def _transient(answer: JobOutcome) -> bool:
    """A failure another try may cure: not the job's own (a timeout, out of memory, a bad request)."""
    if answer.title in _TRANSIENT:
        return True
    return answer.http_status in (502, 503) and answer.title not in _TIMEOUTS | {"out_of_memory"}


@dataclass(frozen=True)
class Ending:
    """How a job ends: its status and error, S0's `result` for the log line, the route's HTTP status."""

    status: str
    error: str | None
    result: str
    http_status: int | None = None


def _ending(answer: JobOutcome) -> Ending:
    if 200 <= answer.http_status < 300:
        return Ending("SUCCEEDED", None, "SUCCESS", answer.http_status)
    if answer.http_status == 429:  # at capacity, or the key's rate or tokens spent (rate_limited)
        return Ending("REJECTED", answer.title or "concurrency_limit_reached", "REJECTED", answer.http_status)
    if answer.title in _TIMEOUTS or answer.http_status == 504:
        return Ending("FAILED", "timeout", "TIMEOUT", answer.http_status)
    return Ending("FAILED", answer.title, "FAILED", answer.http_status)


@serve.deployment(ray_actor_options={"num_cpus": 0.1}, max_ongoing_requests=4)
@task_consumer(task_processor_config=task_processor_config())
class JobConsumer:
    """Runs queued jobs, `max_ongoing_requests` at a time per replica (its Celery worker threads)."""

    def __init__(self, ingress: str = "Ingress"):
        self.settings = JobSettings()
        self.store = JobStore(PlatformSettings().redis_url, self.settings)
        self.ingress_name = ingress
        # Serve calls __init__ on the replica's event loop: the loop handle calls run on.
        self._loop = asyncio.get_running_loop()
        self._ingress_handle: DeploymentHandle | None = None
        self._stopping = threading.Event()
        self._stop_sent = False
        threading.Thread(target=self._guard_against_starvation, daemon=True, name="job-starvation-guard").start()
        context = serve.get_replica_context()
        self._drain = DrainWatch(context.app_name, context.replica_id.unique_id, on_drain=self._stop_taking_jobs)

    def _ingress(self) -> DeploymentHandle:
        # Not a cached_property: the task consumer's class is pickled by value, and that holds a lock.
        if self._ingress_handle is None:
            self._ingress_handle = serve.get_deployment_handle(self.ingress_name, serve.get_replica_context().app_name)
        return self._ingress_handle

    @task_handler(name=RUN_JOB)
    def run_job(self, job_id: str) -> None:
        """Celery calls this on one of its threads; it returns once the job's state is final or queued again."""
        if self._drain.draining:
            self._stop_taking_jobs()  # a worker started after the drain began has not been stopped yet
            _hand_back(job_id)
        job, lease = self.store.claim(job_id)
        if job is None:
            logger.info("job delivery dropped: finished, cancelled or running elsewhere", extra={"request_id": job_id})
            return
        metrics = job_metrics()
        if job.redeliveries and job.attempts > 1:
            metrics.redeliveries.inc()
        metrics.wait.observe(max(0.0, job.started_at - job.queued_at), tags={"tier": job.tier})
        logger.info("inference.started", extra={"event": "inference.started", "request_id": job.id,
                                                "status": "RUNNING", "attempt": job.attempts, "kind": job.kind})
        try:
            ending = self._run(job, lease)
        except TransientFailure as failure:
            if str(failure) == "draining":  # the Ingress is going away: not this job's failure
                _persist(lambda: self.store.requeue(job.id))
                _hand_back(job.id)  # raises
            self._retry_or_give_up(job, str(failure))
            raise
        self._finish(job, ending)

    def _run(self, job: Job, lease: str) -> Ending:
        """The job's outcome; S0's second stage waits out "at capacity" answers for acquire_timeout_s."""
        acquire_by = time.time() + self.settings.acquire_timeout_s
        deadline = job.started_at + job.timeout_s
        backoff = 0.1
        while True:
            answer = self._call(job, lease, deadline)
            if answer is None:
                if self._cancel_requested(job.id):
                    return Ending("CANCELLED", "cancelled", "CANCELLED")
                return Ending("FAILED", "timeout", "TIMEOUT")
            if _transient(answer):
                raise TransientFailure(answer.title or str(answer.http_status))
            at_capacity = answer.http_status == 429 and answer.title != "rate_limited"
            if not at_capacity or time.time() + backoff >= min(acquire_by, deadline):
                return _ending(answer)
            time.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    def _call(self, job: Job, lease: str, deadline: float) -> JobOutcome | None:
        """The ingress's answer, or None once the job was cancelled or ran past its deadline (the call is
        then cancelled inside the deployments too)."""
        # The handle call runs on the replica's event loop: handles are bound to one (Serve's throughput-
        # optimized mode runs their router in the caller's loop), and Celery's threads have none.
        call = asyncio.run_coroutine_threadsafe(self._run_in_ingress(job.id), self._loop)
        try:
            while True:
                try:
                    return call.result(timeout=_TICK_S)
                except TimeoutError:
                    pass
                if time.time() >= deadline or self._cancel_requested(job.id):
                    call.cancel()  # cancels the handle call, and with it the route's work in the deployments
                    return None
                self._renew(job.id, lease)
        except Exception as error:  # the ingress (or the store under it) failed, not the job's route
            if is_retryable(error):
                raise TransientFailure(as_platform_error(error).title) from None
            return JobOutcome(http_status=status_of(error), title=as_platform_error(error).title)

    async def _run_in_ingress(self, job_id: str) -> JobOutcome:
        _set_request_context(request_id=job_id)  # the job's id on every log line of the run
        return await self._ingress().run_job.remote(job_id)

    def _cancel_requested(self, job_id: str) -> bool:
        try:
            return self.store.cancel_requested(job_id)
        except JobStoreUnavailable:
            return False  # Redis restarting: look again next tick

    def _renew(self, job_id: str, lease: str) -> None:
        try:
            self.store.renew(job_id, lease)
        except JobStoreUnavailable:
            logger.warning("could not renew a job's lease; Redis is unavailable", extra={"request_id": job_id})

    def _finish(self, job: Job, ending: Ending, dead_letter: bool = False) -> None:
        finished = _persist(lambda: self.store.finish(job.id, ending.status, ending.error, ending.http_status,
                                                      keep_input=dead_letter))
        metrics = job_metrics()
        metrics.finished.inc(tags={"status": ending.status, "error": ending.error or ""})
        latency_s = time.time() - job.queued_at
        metrics.run.observe(time.time() - job.started_at, tags={"kind": job.kind})
        logger.info("inference.completed", extra={
            "event": "inference.completed", "request_id": job.id, "status": ending.status, "result": ending.result,
            "reason": ending.error, "latency_ms": round(latency_s * 1000, 1), "attempts": job.attempts,
            "stored": finished is not None})

    def _retry_or_give_up(self, job: Job, reason: str) -> None:
        """Queued again for Celery's retry, or FAILED when this was the last try (Celery dead-letters it)."""
        if job.attempts > self.settings.max_retries:
            job_metrics().dead_letters.inc()
            self._finish(job, Ending("FAILED", reason, "FAILED"), dead_letter=True)
        else:
            _persist(lambda: self.store.requeue(job.id))
            logger.warning("job failed for now; retrying", extra={"request_id": job.id, "reason": reason,
                                                                 "attempt": job.attempts})

    def check_health(self) -> None:
        """Unhealthy when its Celery worker is gone outside a drain: it exits when it loses the broker (Redis
        restarting), and a drain that was called off leaves it stopped. Serve then replaces the replica, whose
        new worker takes the queue again. Ray's adapter has no public view of its worker thread."""
        adapter = getattr(self, "_adapter", None)  # set once the task consumer started its worker
        worker = getattr(adapter, "_worker_thread", None)
        if adapter is not None and (worker is None or not worker.is_alive()) and not self._drain.draining:
            raise RuntimeError("the Celery worker of this job consumer stopped")

    def _stop_taking_jobs(self) -> None:
        """A drain began: Celery's warm shutdown lets the running jobs finish and puts back what this worker
        had taken but not started (prefetched, or waiting out a retry's backoff). A worker not started yet
        (the task consumer starts it after __init__) is stopped by the first job it is given (run_job)."""
        if (adapter := getattr(self, "_adapter", None)) is None or self._stop_sent:
            return
        self._stop_sent = True
        logger.info("draining: this consumer takes no more jobs")
        threading.Thread(target=adapter.stop_consumer, daemon=True, name="job-consumer-stop").start()

    def _guard_against_starvation(self) -> None:
        """A normal or low job queued past the bound is sent again at high priority; whichever copy is
        taken first runs it, the other is dropped as a duplicate."""
        bound, queue = self.settings.starvation_bound_s, None
        while not self._stopping.wait(min(bound / 4, 5.0)):
            try:
                # The task consumer sets its adapter after __init__; sends go through that one.
                queue = queue or JobQueue(self.store, self.settings, adapter=self._adapter)
                for tier in ("normal", "low"):
                    for job_id in self.store.starving(tier, time.time() - bound):
                        queue.send(job_id, "high")
                        self.store.forget_starving(tier, job_id)
                job_metrics().queue_depth(queue.depth())
            except Exception:  # Redis away for a moment: the next round tries again
                logger.warning("starvation guard skipped a round", exc_info=True)

    def __del__(self):
        self._stopping.set()

