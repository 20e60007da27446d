"""Domain exceptions, one class per client-visible problem, and the one classifier of any exception:
out of memory, retryable, or the platform error a client may see. The ingress maps them to problem+json.

They cross deployment handles, so each keeps its constructor arguments picklable (a message).
"""

import asyncio
import logging

from ray.exceptions import RayActorError
from ray.serve.exceptions import BackPressureError

logger = logging.getLogger("ray.serve")


class PlatformError(Exception):
    """Base of every error a client may see; `title` is the stable machine-readable name."""

    status = 500
    title = "internal_error"
    default_detail = "internal error"

    def __init__(self, detail: str | None = None):
        detail = self.default_detail if detail is None else detail
        super().__init__(detail)
        self.detail = detail


class MalformedJson(PlatformError):
    status, title = 400, "malformed_json"


class UnsupportedMediaType(PlatformError):
    status, title = 415, "unsupported_media_type"


class ValidationFailed(PlatformError):
    """A request that does not fit its schema; `errors` names each field and what is wrong with it."""

    status, title = 422, "validation_failed"

    def __init__(self, detail: str | None = None, errors: list[dict] | None = None):
        super().__init__(detail)
        self.errors = errors

    def __reduce__(self):
        return type(self), (self.detail, self.errors)

    def summary(self) -> str:
        """The detail with every field's error, on one line."""
        fields = "; ".join(f"{error['field']}: {error['message']}" for error in self.errors or [])
        return fields or self.detail


class InvalidImage(PlatformError):
    status, title = 400, "invalid_image"


class PayloadTooLarge(PlatformError):
    """A body, an inflated body, an image's pixels or a list over the limit its route allows."""

    status, title = 413, "payload_too_large"


class Unauthenticated(PlatformError):
    """No API key, a malformed one, or one that is unknown or revoked."""

    status, title = 401, "unauthenticated"
    headers = {"WWW-Authenticate": 'Bearer realm="platform"'}


class Forbidden(PlatformError):
    """A valid key without the scope the route needs."""

    status, title = 403, "forbidden"


class RequestTimeout(PlatformError):
    """The client did not send its whole body in time (a slow client holds nothing for long)."""

    status, title = 408, "request_timeout"


class HeadersTooLarge(PlatformError):
    status, title = 431, "request_header_fields_too_large"


class RateLimited(PlatformError):
    """A key's requests or tokens over its tier's limit; `headers` say when to come back."""

    status, title = 429, "rate_limited"

    def __init__(self, detail: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.headers = headers or {}

    def __reduce__(self):
        return type(self), (self.detail, self.headers)


class AuthUnavailable(PlatformError):
    """The key store or the rate limiter cannot answer and the configured rule is to refuse."""

    status, title = 503, "auth_unavailable"
    headers = {"Retry-After": "1"}


class ModelUnavailable(PlatformError):
    """No live replica serves the model (it is loading, restarting or gone): fail fast, come back soon."""

    status, title = 503, "model_unavailable"
    headers = {"Retry-After": "5"}


class Draining(PlatformError):
    """This server is shutting down: the request was not started; another replica (or this one once it is
    back) takes it."""

    status, title = 503, "draining"
    headers = {"Retry-After": "5"}


class UnknownModel(PlatformError):
    status, title = 404, "unknown_model"


class InvalidTensor(PlatformError):
    """A KServe V2 input that does not fit the model: name, datatype, shape or byte size."""

    status, title = 400, "invalid_tensor"


class InvalidRequest(PlatformError):
    """A well-formed request the model cannot serve as asked (context too long, unsupported option)."""

    status, title = 400, "invalid_request"


class InvalidPath(PlatformError):
    """A path routing would not read as sent (dot or empty segments, encoded separators): refused, so every
    decision about it is made on the path as routed."""

    status, title = 400, "invalid_path"


class ConcurrencyLimitReached(PlatformError):
    status, title = 429, "concurrency_limit_reached"
    default_detail = "동시 추론 요청 한도 초과"


class Overloaded(PlatformError):
    """The route is so busy that this request would wait past its deadline: refused at once, before any work."""

    status, title = 503, "overloaded"

    def __init__(self, detail: str | None = None, retry_after_s: int = 1):
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after_s)}

    def __reduce__(self):
        return type(self), (self.detail, int(self.headers["Retry-After"]))


class InferenceTimeout(PlatformError):
    status, title = 503, "timeout"

    @classmethod
    def after(cls, seconds: float) -> "InferenceTimeout":
        return cls(f"LLM 추론 타임아웃 ({seconds:g}초)")


class OutOfMemory(PlatformError):
    status, title = 503, "out_of_memory"
    default_detail = "LLM 추론 중 메모리 부족"


class InferenceFailed(PlatformError):
    """The engine failed at run time; S1 passes its message on with a 503."""

    status, title = 503, "inference_failed"


class DuplicateAnalysis(PlatformError):
    """The same analysis (same key) is already running; S2 answers the duplicate 409."""

    status, title = 409, "duplicate_analysis"


class LockStoreUnavailable(PlatformError):
    """Redis, which holds the analysis locks and reused results, cannot answer."""

    status, title = 503, "lock_store_unavailable"


class CircuitOpen(PlatformError):
    """A graph node's circuit breaker is open and the node has no fallback."""

    status, title = 503, "circuit_open"


class NodeTimeout(PlatformError):
    status, title = 504, "node_timeout"


class DeadlineExceeded(PlatformError):
    """The graph's deadline (its timeout_s, or the client's X-Request-Timeout) passed before the answer."""

    status, title = 504, "deadline_exceeded"


class UnknownGraph(PlatformError):
    status, title = 404, "unknown_graph"


class UnknownJob(PlatformError):
    """No job has this id, or its state expired."""

    status, title = 404, "unknown_job"


class UnknownBatch(PlatformError):
    """No batch has this id, or its jobs expired."""

    status, title = 404, "unknown_batch"


class QueueFull(PlatformError):
    """S0's first stage: the job queue holds its maximum; come back after Retry-After."""

    status, title = 429, "queue_full"
    default_detail = "the job queue is full"


class JobStoreUnavailable(PlatformError):
    """Redis, which holds the job queue and every job's state, cannot answer."""

    status, title = 503, "job_store_unavailable"
    default_detail = "the job store (Redis) is unavailable; retry shortly"
    headers = {"Retry-After": "2"}


class JobStoreFull(PlatformError):
    """The job store holds its budget of bytes: new jobs wait until queued ones finish (never an eviction)."""

    status, title = 503, "job_store_full"
    default_detail = "the job store is at its memory budget; retry shortly"
    headers = {"Retry-After": "5"}


# asyncio.TimeoutError is TimeoutError; RayActorError covers ActorUnavailableError (a replica restarting).
_TRANSIENT = (TimeoutError, NodeTimeout, ConcurrencyLimitReached, RayActorError, BackPressureError, ConnectionError)


def _with_cause(error: BaseException) -> tuple[BaseException, ...]:
    # A RayTaskError that could not subclass its cause's type still carries the cause here.
    cause = getattr(error, "cause", None)
    return (error, cause) if isinstance(cause, BaseException) else (error,)


def is_oom(error: BaseException) -> bool:
    """True for out-of-memory errors (ours, Python's, torch's), also when Ray wraps them."""
    return any(isinstance(e, (OutOfMemory, MemoryError))
               or any(cls.__name__ == "OutOfMemoryError" for cls in type(e).__mro__)
               for e in _with_cause(error))


def is_retryable(error: BaseException) -> bool:
    """True for transient failures that another try may cure; client mistakes and OOM are not."""
    if isinstance(error, asyncio.CancelledError) or is_oom(error):
        return False
    return any(isinstance(e, _TRANSIENT)
               or (isinstance(e, PlatformError) and e.status == 503 and not isinstance(e, CircuitOpen))
               for e in _with_cause(error))


def as_platform_error(error: BaseException, otherwise: PlatformError | None = None) -> PlatformError:
    """What a client may learn of `error`: a platform error as it is, out of memory, overload, a replica
    gone; anything else is `otherwise`, or a logged, generic internal error."""
    # The cause first: Ray's wrapper of a deployment's error is an instance of its class, but it
    # reads class attributes, not the instance's own (a status set in __init__).
    for cause in reversed(_with_cause(error)):
        if isinstance(cause, PlatformError):
            return cause
    if is_oom(error):
        return OutOfMemory()
    if isinstance(error, BackPressureError):  # the called deployment's own queue is full
        return ConcurrencyLimitReached()
    if isinstance(error, RayActorError):
        return ModelUnavailable("a model replica stopped; retry the request")
    if otherwise is not None:
        return otherwise
    logger.error("unexpected error", exc_info=error)
    return PlatformError()


def status_of(error: BaseException) -> int:
    """The HTTP status `error` answers with; 500 for anything not a platform error."""
    return as_platform_error(error, otherwise=PlatformError()).status
