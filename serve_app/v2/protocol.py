"""KServe V2 / Open Inference Protocol messages, with Triton's binary tensor data extension."""

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, ValidationError
from starlette.responses import JSONResponse


class TensorParameters(BaseModel):
    """Per-tensor parameters; unknown ones (e.g. a client's own) are kept and ignored."""

    model_config = ConfigDict(extra="allow")

    binary_data_size: int | None = Field(default=None, ge=0)
    binary_data: bool | None = None


class RequestInput(BaseModel):
    name: str
    shape: list[NonNegativeInt]
    datatype: str
    parameters: TensorParameters = Field(default_factory=TensorParameters)
    data: list | None = None


class RequestOutput(BaseModel):
    name: str
    parameters: TensorParameters = Field(default_factory=TensorParameters)


class RequestParameters(BaseModel):
    model_config = ConfigDict(extra="allow")

    binary_data_output: bool = False


class InferenceRequest(BaseModel):
    id: str | None = None
    parameters: RequestParameters = Field(default_factory=RequestParameters)
    inputs: list[RequestInput] = Field(min_length=1)
    # None: every output of the model; a list: only those.
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    name: str
    datatype: str
    shape: list[int]
    parameters: dict[str, bool | int | float | str] | None = None
    data: list | None = None


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str | None = None
    outputs: list[ResponseOutput]


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class ErrorResponse(BaseModel):
    error: str


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """A V2 error as V2 clients read it: `{"error": ...}` with the status (and, for 429 and 503, when to
    come back)."""
    if status in (429, 503):
        headers = {"Retry-After": "1", **(headers or {})}
    return JSONResponse(ErrorResponse(error=message).model_dump(), status_code=status, headers=headers)


def describe(error: ValidationError) -> str:
    """A pydantic error as one line a client can act on."""
    return "; ".join(f"{'.'.join(map(str, issue['loc'])) or 'body'}: {issue['msg']}" for issue in error.errors())
