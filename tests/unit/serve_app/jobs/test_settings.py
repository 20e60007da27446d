"""The production job timers, where the value is the point (the test platform shortens them, testkit/config.py):
retries outlast a model's restart, and only a dead consumer's job comes back, after every run and retry wait."""

import pytest

from serve_app.jobs.settings import JobSettings, task_processor_config

# The LLM engine took 88 s to come back after a SIGKILL under load on 2 busy cores (serve_app/jobs/settings.py).
SLOWEST_RESTART_S = 88


@pytest.fixture
def production(monkeypatch) -> JobSettings:
    for name in ("MAX_TIMEOUT_S", "RETRY_BACKOFF_S", "RETRY_BACKOFF_MAX_S", "MAX_RETRIES", "REDELIVERY_MARGIN_S"):
        monkeypatch.delenv(f"PLATFORM_JOBS_{name}", raising=False)
    return JobSettings()


def test_retries_wait_out_a_model_restart(production):
    waits = [min(production.retry_backoff_s * 2 ** attempt, production.retry_backoff_max_s)
             for attempt in range(production.max_retries)]
    assert waits == [10, 20, 40, 60, 60]
    assert sum(waits) > 2 * SLOWEST_RESTART_S


def test_a_taken_job_comes_back_only_after_its_longest_run_and_retry_wait(production):
    config = task_processor_config(production)
    visibility = config.adapter_config.broker_transport_options["visibility_timeout"]
    assert visibility == production.visibility_timeout_s == 300 + 60 + 60
    assert visibility > production.max_timeout_s + production.retry_backoff_max_s
    # ... and then soon: every sweep of the transport looks (kombu's default looked every 100 s).
    options = config.adapter_config.broker_transport_options
    assert options["unacked_restore_interval"] * options["unacked_restore_throttle"] <= 5
