"""KServe V2 over gRPC: the `GRPCInferenceService` that `tritonclient.grpc` speaks, on Serve's gRPC proxy
(serve_config.yaml `grpc_options`). The Ingress answers its methods with the same model repository,
readiness rule, codec and gate as V2 over HTTP; the key comes in the `authorization` (or `x-api-key`)
metadata, refusals are gRPC status codes."""

import grpc
import numpy as np
from pydantic import ValidationError
from starlette.datastructures import Headers

from serve_app.common.errors import InvalidRequest, InvalidTensor, as_platform_error
from serve_app.common.model_metadata import DATATYPE_OF, DATATYPES
from serve_app.readiness import readiness
from serve_app.security.caller import act_for
from serve_app.security.gate import Guard
from serve_app.v2 import codec
from serve_app.v2.grpc_messages import Malformed, pb
from serve_app.v2.models import ModelRepository
from serve_app.v2.protocol import InferenceRequest, describe

SERVICE = "/inference.GRPCInferenceService/"
_CODES = {400: grpc.StatusCode.INVALID_ARGUMENT, 401: grpc.StatusCode.UNAUTHENTICATED,
          403: grpc.StatusCode.PERMISSION_DENIED, 404: grpc.StatusCode.NOT_FOUND,
          408: grpc.StatusCode.DEADLINE_EXCEEDED, 409: grpc.StatusCode.ABORTED,
          413: grpc.StatusCode.RESOURCE_EXHAUSTED, 422: grpc.StatusCode.INVALID_ARGUMENT,
          429: grpc.StatusCode.RESOURCE_EXHAUSTED, 431: grpc.StatusCode.INVALID_ARGUMENT,
          503: grpc.StatusCode.UNAVAILABLE, 504: grpc.StatusCode.DEADLINE_EXCEEDED}
# Where each datatype's values sit in InferTensorContents when a client sends them typed, not raw.
_CONTENTS = {"BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
             "INT64": "int64_contents", "UINT8": "uint_contents", "UINT16": "uint_contents",
             "UINT32": "uint_contents", "UINT64": "uint64_contents", "FP32": "fp32_contents",
             "FP64": "fp64_contents", "BYTES": "bytes_contents"}


def _headers(grpc_context) -> Headers:
    """The call's text metadata as HTTP headers, so the gate reads keys and request ids the same way."""
    pairs = [(key.lower().encode("latin-1"), value.encode("latin-1", "replace"))
             for key, value in grpc_context.invocation_metadata() if not key.endswith("-bin")]
    return Headers(raw=pairs)


def _raw(tensor: pb.ModelInferRequest.InferInputTensor) -> bytes:
    """A typed-contents input in the raw layout (what raw_input_contents would carry)."""
    if tensor.datatype not in _CONTENTS:
        raise InvalidTensor(f"input {tensor.name!r} has unknown datatype {tensor.datatype!r}")
    values = list(getattr(tensor.contents, _CONTENTS[tensor.datatype]))
    if tensor.datatype == "BYTES":
        return codec.tensor_bytes(np.array(values, dtype=object))
    return np.asarray(values, dtype=DATATYPES[tensor.datatype]).tobytes()


def decode_infer(request: pb.ModelInferRequest) -> tuple[InferenceRequest, dict[str, np.ndarray]]:
    """The request as V2 over HTTP would have it, and its tensors, through the one codec."""
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise InvalidTensor(f"{len(raw)} raw_input_contents for {len(request.inputs)} inputs")
    chunks = raw or [_raw(tensor) for tensor in request.inputs]
    try:
        inference = InferenceRequest.model_validate({
            "id": request.id or None, "parameters": {"binary_data_output": True},
            "inputs": [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape),
                        "parameters": {"binary_data_size": len(chunk)}} for t, chunk in zip(request.inputs, chunks)],
            "outputs": [{"name": output.name} for output in request.outputs] or None})
    except ValidationError as error:
        raise InvalidTensor(f"malformed inference request: {describe(error)}") from None
    return inference, codec.decode_tensors(inference, b"".join(chunks))


def encode_infer(name: str, version: str, request_id: str | None, outputs: dict[str, np.ndarray],
                 choices: dict[str, bool]) -> pb.ModelInferResponse:
    response = pb.ModelInferResponse(model_name=name, model_version=version, id=request_id or "")
    for output in choices:
        array = outputs[output]
        response.outputs.add(name=output, datatype=DATATYPE_OF[array.dtype], shape=list(array.shape))
        response.raw_output_contents.append(codec.tensor_bytes(array))
    return response


def _metadata(tensor) -> pb.ModelMetadataResponse.TensorMetadata:
    return pb.ModelMetadataResponse.TensorMetadata(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)


class GRPCInferenceService:
    """The V2 gRPC methods, mixed into the Ingress (Serve's gRPC proxy calls its methods by RPC name).
    `self.state` is the ingress app's state: its guard, model repository and server (name, version)."""

    state = None

    async def _answer(self, request, grpc_context, method: str, family: str, empty, work):
        """Admit the call as the gate admits HTTP requests, then run `work()`; any refusal or failure is the
        matching status code with the problem's detail, and an empty message."""
        guard: Guard = self.state.guard
        try:
            caller = await guard.admit(_headers(grpc_context), "POST", SERVICE + method, family)
            act_for(caller)
            if isinstance(request, Malformed):
                raise InvalidRequest(f"the message is not a valid {method}Request")
            if family == "health":  # probes see the truth while a drain refuses the rest
                return await work()
            with self.state.held.hold():
                return await work()
        except Exception as error:  # a generic internal error for anything unexpected (logged there)
            problem = as_platform_error(error)
            grpc_context.set_code(_CODES.get(problem.status, grpc.StatusCode.INTERNAL))
            grpc_context.set_details(problem.detail)
            return empty

    @property
    def _models(self) -> ModelRepository:
        return self.state.models

    async def ServerLive(self, request: pb.ServerLiveRequest, grpc_context) -> pb.ServerLiveResponse:
        async def work():
            return pb.ServerLiveResponse(live=True)
        return await self._answer(request, grpc_context, "ServerLive", "health", pb.ServerLiveResponse(), work)

    async def ServerReady(self, request: pb.ServerReadyRequest, grpc_context) -> pb.ServerReadyResponse:
        async def work():
            return pb.ServerReadyResponse(ready=not self.state.held.draining and (await readiness())[0])
        return await self._answer(request, grpc_context, "ServerReady", "health", pb.ServerReadyResponse(), work)

    async def ModelReady(self, request: pb.ModelReadyRequest, grpc_context) -> pb.ModelReadyResponse:
        async def work():
            model = await self._models.find(request.name)
            return pb.ModelReadyResponse(ready=(await readiness(model.deployments))[0])
        return await self._answer(request, grpc_context, "ModelReady", "v2", pb.ModelReadyResponse(), work)

    async def ServerMetadata(self, request: pb.ServerMetadataRequest, grpc_context) -> pb.ServerMetadataResponse:
        async def work():
            name, version = self.state.server
            return pb.ServerMetadataResponse(name=name, version=version, extensions=["binary_tensor_data"])
        return await self._answer(request, grpc_context, "ServerMetadata", "v2", pb.ServerMetadataResponse(), work)

    async def ModelMetadata(self, request: pb.ModelMetadataRequest, grpc_context) -> pb.ModelMetadataResponse:
        async def work():
            metadata = (await self._models.find(request.name)).metadata
            return pb.ModelMetadataResponse(name=metadata.name, versions=metadata.versions, platform=metadata.platform,
                                            inputs=[_metadata(t) for t in metadata.inputs],
                                            outputs=[_metadata(t) for t in metadata.outputs])
        return await self._answer(request, grpc_context, "ModelMetadata", "v2", pb.ModelMetadataResponse(), work)

    async def ModelInfer(self, request: pb.ModelInferRequest, grpc_context) -> pb.ModelInferResponse:
        async def work():
            model = await self._models.find(request.model_name)
            inference, inputs = decode_infer(request)
            choices = codec.output_choices(inference, [output.name for output in model.metadata.outputs])
            model.check(inputs)
            outputs = await model.run(inputs)
            return encode_infer(request.model_name, model.metadata.versions[0], inference.id, outputs, choices)
        return await self._answer(request, grpc_context, "ModelInfer", "v2", pb.ModelInferResponse(), work)
