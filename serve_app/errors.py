"""Domain exceptions, one class per client-visible problem; the ingress maps them to problem+json.

They cross deployment handles, so each keeps its constructor arguments picklable (a message).
"""


class PlatformError(Exception):
    """Base of every error a client may see; `title` is the stable machine-readable name."""

    status = 500
    title = "internal_error"

    def __init__(self, detail: str = "internal error"):
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
