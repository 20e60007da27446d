"""KServe V2 / Open Inference Protocol messages, with Triton's binary tensor data extension."""

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, ValidationError

from serve_app.errors import InvalidTensor

# V2 datatype → numpy dtype; BYTES elements are Python bytes in an object array.
DATATYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8), "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32), "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8), "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32), "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16), "FP32": np.dtype(np.float32), "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(np.object_),
}
DATATYPE_OF = {dtype: name for name, dtype in DATATYPES.items()}
# Each model has one version: a new one comes with a redeploy, not next to the old.
MODEL_VERSION = "1"


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


class TensorMetadata(BaseModel):
    """A model input or output; -1 in `shape` is a dimension of any size (the batch)."""

    name: str
    datatype: str
    shape: list[int]
    optional: bool = Field(default=False, exclude=True)

    def check(self, tensor: np.ndarray, max_batch: int) -> None:
        """Raises InvalidTensor unless `tensor` fits this input."""
        if tensor.dtype != DATATYPES[self.datatype]:
            raise InvalidTensor(f"input {self.name!r} is {DATATYPE_OF[tensor.dtype]}, expected {self.datatype}")
        shape = list(tensor.shape)
        fits = len(shape) == len(self.shape) and all(d in (-1, s) for d, s in zip(self.shape, shape))
        if not fits:
            raise InvalidTensor(f"input {self.name!r} has shape {shape}, expected {self.shape}")
        if self.shape[0] == -1 and not 1 <= shape[0] <= max_batch:
            raise InvalidTensor(f"input {self.name!r} has batch size {shape[0]}, expected 1 to {max_batch}")


class ModelMetadata(BaseModel):
    name: str
    versions: list[str] = [MODEL_VERSION]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class ErrorResponse(BaseModel):
    error: str


def describe(error: ValidationError) -> str:
    """A pydantic error as one line a client can act on."""
    return "; ".join(f"{'.'.join(map(str, issue['loc'])) or 'body'}: {issue['msg']}" for issue in error.errors())
