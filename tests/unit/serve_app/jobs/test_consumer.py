"""How the consumer reads a route's answer: S0's statuses and errors, and which failures are retried."""

import pytest

from serve_app.jobs.consumer import _ending, _transient
from serve_app.jobs.model import JobOutcome, normalize_id


@pytest.mark.parametrize(("status", "title", "ending", "transient"), [
    (200, None, ("SUCCEEDED", None, "SUCCESS"), False),
    (429, "concurrency_limit_reached", ("REJECTED", "concurrency_limit_reached", "REJECTED"), False),
    (503, "timeout", ("FAILED", "timeout", "TIMEOUT"), False),  # S1's LLM timeout
    (504, "deadline_exceeded", ("FAILED", "timeout", "TIMEOUT"), False),
    (503, "out_of_memory", ("FAILED", "out_of_memory", "FAILED"), False),
    (422, "validation_failed", ("FAILED", "validation_failed", "FAILED"), False),
    (503, "model_unavailable", None, True),
    (503, "inference_failed", None, True),
    (503, "circuit_open", None, True),
    (500, "internal_error", ("FAILED", "internal_error", "FAILED"), False),
])
def test_answers_become_s0_outcomes(status, title, ending, transient):
    answer = JobOutcome(http_status=status, title=title)
    assert _transient(answer) is transient
    if ending is not None:
        result = _ending(answer)
        assert (result.status, result.error, result.result, result.http_status) == (*ending, status)


@pytest.mark.parametrize(("sent", "kept"), [
    ("  demo-1 ", "demo-1"), ("a:b.c_d-e", "a:b.c_d-e"), ("x" * 128, "x" * 128),
    ("x" * 129, None), ("has space", None), ("", None), ("슬래시/", None),
])
def test_client_ids_are_trimmed_plain_tokens(sent, kept):
    assert normalize_id(sent) == kept
