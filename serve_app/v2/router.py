"""KServe V2 / Open Inference Protocol routes; `tritonclient.http` speaks to them unchanged.

V2 clients expect every error as `{"error": "..."}`, so this router maps errors itself instead of
leaving them to the app's problem+json handlers.
"""

import logging
from collections.abc import Callable, Coroutine

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from serve_app.common.errors import as_platform_error
from serve_app.common.model_metadata import ModelMetadata
from serve_app.http.job_routes import RUNS_AS_JOB
from serve_app.readiness import readiness
from serve_app.v2 import codec
from serve_app.v2.models import ModelRepository
from serve_app.v2.protocol import ServerMetadata, error_response

logger = logging.getLogger("ray.serve")


class V2Route(APIRoute):
    """Answers every failure of a V2 route as a V2 error body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[None, None, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as error:
                # Not only our own errors: a full queue (429) or a replica gone (503) is no internal error.
                # Anything unexpected is logged there and answered as a 500.
                problem = as_platform_error(error)
                logger.info("v2 request failed", extra={"problem": problem.title, "detail": problem.detail})
                return error_response(problem.status, problem.detail, getattr(problem, "headers", None))

        return handle


router = APIRouter(prefix="/v2", route_class=V2Route)


@router.get("")
async def server_metadata(request: Request) -> ServerMetadata:
    return ServerMetadata(name=request.app.title, version=request.app.version, extensions=["binary_tensor_data"])


# Readiness and liveness answer with an empty body, as the protocol has it.
_EMPTY = {200: {"description": "yes (an empty body)", "content": {}}}
# Binary tensor data (the Inference-Header-Content-Length extension) comes as octet-stream.
_TENSORS = {200: {"description": "the outputs", "content": {"application/json": {}, "application/octet-stream": {}}}}


@router.get("/health/live", response_class=Response, responses=_EMPTY)
async def live() -> Response:
    return Response()


# The protocol answers readiness with 200 or a 4xx; Triton uses 400.
@router.get("/health/ready", response_class=Response, responses=_EMPTY)
async def ready(request: Request) -> Response:
    if request.app.state.held.draining:
        return error_response(400, "the server is shutting down")
    return Response() if (await readiness())[0] else error_response(400, "not every model is ready")


def _models(request: Request) -> ModelRepository:
    return request.app.state.models


@router.get("/models/{name}")
async def model_metadata(name: str, request: Request) -> ModelMetadata:
    return (await _models(request).find(name)).metadata


@router.get("/models/{name}/ready", response_class=Response, responses=_EMPTY)
async def model_ready(name: str, request: Request) -> Response:
    model = await _models(request).find(name)
    if (await readiness(model.deployments))[0]:
        return Response()
    return error_response(400, f"model {name!r} is not ready")


@router.post("/models/{name}/infer", response_class=Response, responses=_TENSORS, openapi_extra=RUNS_AS_JOB)
async def infer(name: str, request: Request) -> Response:
    model = await _models(request).find(name)
    inference, inputs = codec.decode_request(await request.body(), request.headers.get(codec.HEADER_LENGTH),
                                             request.headers.get("content-encoding"))
    choices = codec.output_choices(inference, [output.name for output in model.metadata.outputs])
    model.check(inputs)
    outputs = await model.run(inputs)
    body, header_length = codec.encode_response(name, model.metadata.versions[0], inference.id, outputs, choices)
    if header_length is None:
        return Response(body, media_type="application/json")
    return Response(body, media_type="application/octet-stream",
                    headers={codec.HEADER_LENGTH: str(header_length)})
