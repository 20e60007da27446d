"""Domain exceptions, one class per client-visible problem; the ingress maps them to problem+json.

They cross deployment handles, so each keeps its constructor arguments picklable (a message).
"""


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
    status, title = 422, "validation_failed"


class InvalidImage(PlatformError):
    status, title = 400, "invalid_image"


class ModelUnavailable(PlatformError):
    status, title = 503, "model_unavailable"


class UnknownModel(PlatformError):
    status, title = 404, "unknown_model"


class InvalidTensor(PlatformError):
    """A KServe V2 input that does not fit the model: name, datatype, shape or byte size."""

    status, title = 400, "invalid_tensor"


class InvalidRequest(PlatformError):
    """A well-formed request the model cannot serve as asked (context too long, unsupported option)."""

    status, title = 400, "invalid_request"


class ConcurrencyLimitReached(PlatformError):
    status, title = 429, "concurrency_limit_reached"
    default_detail = "동시 추론 요청 한도 초과"


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


class ModelLoadFailed(PlatformError):
    status, title = 503, "model_load_failed"
    default_detail = "LLM 모델 로딩 실패"


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
