"""The JobConsumer's autoscaling: Ray's queue-length policy, with the jobs consumers hold counted too."""

import asyncio

import redis
from ray.serve.async_inference_autoscaling_policy import AsyncInferenceAutoscalingPolicy

from serve_app.common.redis_client import sync_redis
from serve_app.common.settings import PlatformSettings
from serve_app.jobs.settings import JobSettings

# Where Celery's Redis transport keeps messages taken but not yet acknowledged (acks late: running jobs).
UNACKED_KEY = "unacked"


class JobQueueAutoscalingPolicy(AsyncInferenceAutoscalingPolicy):
    """Ray's policy counts waiting messages and Serve requests. A running job is neither: its message is
    held unacknowledged and the consumer serves no Serve request, so with the queue drained the policy
    would scale busy consumers away (to zero), and a job whose consumer died would wait for its
    redelivery with no consumer left to redeliver it. Held messages count as work here."""

    def __init__(self, queue_name: str | None = None, broker_url: str | None = None, **options):
        # By default the job queue and the Redis the platform uses (PLATFORM_JOBS_QUEUE_NAME, PLATFORM_REDIS_URL),
        # written once; a URL that carries a password from a Secret (k8s/) cannot be written into the serve config.
        queue_name = queue_name or JobSettings().queue_name
        broker_url = broker_url or PlatformSettings().redis_url
        super().__init__(broker_url, queue_name, **options)
        self._redis = sync_redis(broker_url)

    async def _poll_once(self) -> None:
        self._queue_length = 0  # a failed poll must not count the held jobs twice
        await super()._poll_once()
        try:
            self._queue_length += await asyncio.to_thread(self._redis.hlen, UNACKED_KEY)
        except redis.RedisError:
            pass  # the base policy has logged the broker's absence already
