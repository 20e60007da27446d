"""The broker side of jobs: Ray Serve's Celery adapter sends a job's id to the queue at its tier's
priority; queue depth per tier and the dead-letter queue are read straight from the broker's Redis lists."""

import ast
import base64
import json
from dataclasses import dataclass

import redis
from kombu.transport.redis import Channel
from ray.serve.schema import TaskProcessorAdapter
from ray.serve.task_consumer import instantiate_adapter_from_config

from serve_app.jobs.settings import PRIORITY, RUN_JOB, TIERS, JobSettings, task_processor_config
from serve_app.jobs.store import JobStore, _available


@dataclass(frozen=True)
class DeadLetter:
    job_id: str
    error: str
    raw: bytes  # the broker's message, to remove it on requeue


class JobQueue:
    """Sends jobs to the consumers; synchronous (callers off the event loop use a thread)."""

    def __init__(self, store: JobStore, settings: JobSettings, adapter: TaskProcessorAdapter | None = None):
        self.store, self.settings = store, settings
        self.redis: redis.Redis = store.redis
        # A consumer passes its own adapter: a second one in the process would dead-letter every failure twice.
        # Elsewhere the adapter's initialize() makes the Celery app, and no worker is started.
        self._adapter = adapter or instantiate_adapter_from_config(task_processor_config(settings))

    def _lists(self, queue: str) -> dict[str, str]:
        # Celery's Redis transport: the bare name for priority 0, name + separator + priority for the others.
        return {tier: f"{queue}{Channel.sep}{PRIORITY[tier]}" if PRIORITY[tier] else queue for tier in TIERS}

    @_available
    def send(self, job_id: str, tier: str) -> None:
        self._adapter.enqueue_task_sync(RUN_JOB, args=[job_id], priority=PRIORITY[tier])

    @_available
    def depth(self) -> dict[str, int]:
        """Jobs waiting in the broker, per tier (taken but unacknowledged ones are not waiting)."""
        lists = self._lists(self.settings.queue_name)
        with self.redis.pipeline() as pipe:
            for name in lists.values():
                pipe.llen(name)
            return dict(zip(lists, pipe.execute()))

    @_available
    def dead_letters(self) -> list[DeadLetter]:
        """Jobs that failed after every retry, oldest first, as the adapter's failure handler left them."""
        letters = []
        for name in self._lists(self.settings.dead_letter_queue).values():
            for raw in reversed(self.redis.lrange(name, 0, -1)):  # LPUSHed: the oldest is last
                args, _, _ = json.loads(base64.b64decode(json.loads(raw)["body"]))
                # The adapter's dead-letter args: task id, exception, str(task args), str(kwargs), traceback.
                job_id = ast.literal_eval(args[2])[0]
                letters.append(DeadLetter(job_id=job_id, error=args[1], raw=raw))
        return letters

    @_available
    def remove_dead_letter(self, letter: DeadLetter) -> bool:
        return any(self.redis.lrem(name, 1, letter.raw)
                   for name in self._lists(self.settings.dead_letter_queue).values())
