"""The job autoscaler's broker: serve_config.yaml names it, or the platform's Redis (PLATFORM_REDIS_URL)."""

from serve_app.jobs.autoscaling import JobQueueAutoscalingPolicy


def test_without_a_broker_url_the_policy_polls_the_platforms_redis(monkeypatch):
    monkeypatch.setenv("PLATFORM_REDIS_URL", "redis://:secret@platform-redis:6379/0")
    policy = JobQueueAutoscalingPolicy(queue_name="platform-jobs")
    assert policy._broker_url == "redis://:secret@platform-redis:6379/0"
    assert policy._redis.connection_pool.connection_kwargs["host"] == "platform-redis"


def test_a_named_broker_url_wins():
    policy = JobQueueAutoscalingPolicy(queue_name="platform-jobs", broker_url="redis://127.0.0.1:6379/0")
    assert policy._broker_url == "redis://127.0.0.1:6379/0"
