"""The one classifier of exceptions: out of memory, retryable, and what a client may see."""

import asyncio

import pytest
from ray.exceptions import ActorUnavailableError, RayActorError, RayTaskError
from ray.serve.exceptions import BackPressureError

from serve_app.common.errors import (
    CircuitOpen,
    ConcurrencyLimitReached,
    InferenceTimeout,
    InvalidRequest,
    ModelUnavailable,
    NodeTimeout,
    OutOfMemory,
    PlatformError,
    UnknownModel,
    ValidationFailed,
    as_platform_error,
    is_oom,
    is_retryable,
)
from testkit.fault_injector import InjectedFault


class OutOfMemoryError(RuntimeError):
    """Named like torch's CUDA out-of-memory error, which is_oom recognizes by name."""


def _wrapped(cause: BaseException) -> BaseException:
    """What a caller sees when a remote task raised `cause`."""
    return RayTaskError("node", "traceback", cause).as_instanceof_cause()


@pytest.mark.parametrize("error, retryable", [
    (TimeoutError(), True),
    (asyncio.TimeoutError(), True),
    (NodeTimeout("node"), True),
    (InferenceTimeout.after(5), True),
    (ModelUnavailable("loading"), True),
    (ConcurrencyLimitReached(), True),
    (RayActorError(), True),
    (ActorUnavailableError("restarting", None), True),
    (BackPressureError(num_queued_requests=10, max_queued_requests=10), True),
    (ConnectionResetError(), True),
    (_wrapped(TimeoutError("remote")), True),
    (_wrapped(NodeTimeout("remote")), True),
    (CircuitOpen("open"), False),
    (OutOfMemory(), False),
    (MemoryError(), False),
    (_wrapped(OutOfMemoryError("CUDA")), False),
    (InvalidRequest("x"), False),
    (UnknownModel("x"), False),
    (ValidationFailed("x"), False),
    (ValueError(), False),
    (TypeError(), False),
    (KeyError("k"), False),
    (_wrapped(ValueError("remote")), False),
    (asyncio.CancelledError(), False),
])
def test_retryable_classification(error, retryable):
    assert is_retryable(error) is retryable



@pytest.mark.parametrize("error, oom", [
    (OutOfMemory(), True),
    (MemoryError(), True),
    (OutOfMemoryError("CUDA out of memory"), True),
    (_wrapped(MemoryError()), True),
    (_wrapped(OutOfMemoryError("CUDA")), True),
    (RayTaskError("node", "traceback", MemoryError()), True),  # a wrapper that kept only `.cause`
    (ModelUnavailable("x"), False),
    (RuntimeError("CUDA error"), False),
    (_wrapped(ValueError()), False),
])
def test_is_oom(error, oom):
    assert is_oom(error) is oom


@pytest.mark.parametrize("error, status, title", [
    (InjectedFault(418, "teapot"), 418, "injected_fault"),
    # Ray's wrapper is an InjectedFault too, but reads the class's status (500), not the instance's.
    (_wrapped(InjectedFault(418, "teapot")), 418, "injected_fault"),
    (_wrapped(MemoryError()), 503, "out_of_memory"),
    (BackPressureError(num_queued_requests=10, max_queued_requests=10), 429, "concurrency_limit_reached"),
    (RayActorError(), 503, "model_unavailable"),
    (KeyError("k"), 500, "internal_error"),
])
def test_what_a_client_may_see(error, status, title):
    problem = as_platform_error(error)
    assert isinstance(problem, PlatformError) and (problem.status, problem.title) == (status, title)


def test_an_unknown_error_may_have_a_callers_default():
    assert as_platform_error(KeyError("k"), otherwise=ModelUnavailable("later")).detail == "later"
    assert as_platform_error(InvalidRequest("mine"), otherwise=ModelUnavailable("later")).detail == "mine"


def test_validation_failures_keep_their_fields_across_a_pickle():
    import pickle

    error = pickle.loads(pickle.dumps(ValidationFailed("bad", errors=[{"field": "k", "message": "too big"}])))
    assert (error.detail, error.errors, error.summary()) == ("bad", [{"field": "k", "message": "too big"}], "k: too big")
