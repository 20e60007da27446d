"""Job knobs from environment variables (`PLATFORM_JOBS_*`): the consumer reads them when its module is
imported (Ray's task consumer takes its queue config at class definition), so they are process settings."""

from pathlib import Path

from celery.exceptions import Reject
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from ray.serve.schema import CeleryAdapterConfig, TaskProcessorConfig

from serve_app.common.input_limits import MiB
from serve_app.common.settings import REPO_ROOT, PlatformSettings
from serve_app.common.tiers import TIERS, Tier

__all__ = ["PRIORITY", "RUN_JOB", "TIERS", "JobSettings", "task_processor_config"]
# Celery's Redis transport keeps one list per priority step (0, 3, 6, 9) and pops the lowest number first.
PRIORITY = {"high": 0, "normal": 3, "low": 6}
RUN_JOB = "run_job"
RESTORE_SWEEP_S = 5


class JobSettings(BaseSettings):
    """Queue, limits and timeouts of the job API."""

    model_config = SettingsConfigDict(env_prefix="PLATFORM_JOBS_")

    queue_name: str = "platform-jobs"
    # Jobs waiting in the queue (all tiers) beyond which a submission is refused at once (429 queue_full).
    max_queued: int = Field(default=1000, ge=1)
    # A job's processing limit; a client may ask for less (X-Request-Timeout), never more than max_timeout_s.
    default_timeout_s: float = Field(default=60, gt=0)
    max_timeout_s: float = Field(default=300, gt=0)
    # S0's second stage: a job whose model keeps answering "at capacity" this long ends REJECTED.
    acquire_timeout_s: float = Field(default=10, ge=0)
    # Retries of transient failures (a replica gone, a model unavailable), with exponential backoff: the
    # n-th waits retry_backoff_s * 2**(n-1), at most retry_backoff_max_s. The defaults wait 10, 20, 40, 60
    # and 60 s, 190 s in all: longer than a model takes to come back on 2 busy cores (the LLM engine took
    # 88 s after a SIGKILL under load, benchmarks/faults.py), so a restart does not use up a job's retries.
    max_retries: int = Field(default=5, ge=0)
    retry_backoff_s: int = Field(default=10, ge=1)
    retry_backoff_max_s: int = Field(default=60, ge=1)
    # How long a job's state and result stay readable after it was submitted. Its request body is kept only
    # until it ends (a dead letter's, until it expires: it may be requeued).
    ttl_s: float = Field(default=86400, gt=0)
    # The largest request body a job of each tier may keep in Redis until it runs (413 beyond: send it
    # synchronously); and the share of Redis's maxmemory beyond which new jobs are refused (503 job_store_full)
    # rather than Redis refusing writes or evicting.
    input_bytes: dict[Tier, int] = Field(default_factory=lambda: {"high": 8 * MiB, "normal": 2 * MiB,
                                                                  "low": 512 * 1024})
    store_memory_share: float = Field(default=0.8, gt=0, le=1)
    # The key job bodies and results are sealed with at rest (serve_app/jobs/sealing.py).
    data_key: SecretStr | None = None
    data_key_file: Path = REPO_ROOT / ".data" / "keys" / "job-data.key"
    # Starvation guard: a normal or low job queued this long is pushed to the front (high) of the queue.
    starvation_bound_s: float = Field(default=30, gt=0)
    # A running job's lease: renewed while its consumer lives; a redelivered job whose lease lapsed reruns.
    lease_s: float = Field(default=5, gt=0)
    # Added to the broker's visibility timeout (below), beyond the longest run and the longest retry wait.
    redelivery_margin_s: float = Field(default=60, gt=0)

    @property
    def visibility_timeout_s(self) -> float:
        """How long the broker waits for a taken job's ack before it hands the job to another consumer:
        longer than any job may run or wait for its retry (a retry is a message the worker holds unacked
        until its countdown ends), so only a dead consumer's jobs come back (after this long)."""
        return self.max_timeout_s + self.retry_backoff_max_s + self.redelivery_margin_s

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.queue_name}-dead"


def task_processor_config(settings: JobSettings | None = None) -> TaskProcessorConfig:
    """The Celery queue on the platform's Redis: acks late, requeue on a lost worker, priorities, a
    dead-letter queue after `max_retries`."""
    settings = settings or JobSettings()
    redis_url = PlatformSettings().redis_url
    adapter = CeleryAdapterConfig(
        broker_url=redis_url, backend_url=redis_url,
        # Celery's own list separator and priority steps, which Ray's queue-length autoscaler assumes too.
        # A dead consumer's jobs come back once their visibility timeout passed, at the next sweep of the
        # transport's unacknowledged messages: every RESTORE_SWEEP_S here (kombu's default, 10 s x every 10th
        # call, added up to 100 s more).
        broker_transport_options={"visibility_timeout": settings.visibility_timeout_s,
                                  "unacked_restore_interval": RESTORE_SWEEP_S, "unacked_restore_throttle": 1},
        # One job taken at a time per free thread, so a high job is not stuck behind prefetched low ones.
        app_custom_config={"worker_prefetch_multiplier": 1, "result_expires": int(settings.ttl_s),
                           "broker_connection_retry_on_startup": True, "worker_hijack_root_logger": False},
        # A job handed back by a draining consumer (Reject) goes back on the queue as it was, no retry counted.
        task_custom_config={"retry_backoff": settings.retry_backoff_s, "retry_backoff_max": settings.retry_backoff_max_s,
                            "dont_autoretry_for": (Reject,)})
    return TaskProcessorConfig(queue_name=settings.queue_name,
                               adapter="ray.serve.task_processor.CeleryTaskProcessorAdapter",
                               adapter_config=adapter, max_retries=settings.max_retries,
                               failed_task_queue_name=settings.dead_letter_queue)
