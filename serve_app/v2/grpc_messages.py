"""The V2 gRPC messages: tritonclient's generated protobuf, made picklable. Its classes say they live in
a module `grpc_service_pb2`, which cannot be imported, and Serve's gRPC proxy pickles every request to
hand it to a replica (and every answer back): that name is pointed at the real module, in the proxy
(through the servicer function serve_config.yaml names) and in the replica (on import).

Requests are decoded tolerantly: bytes that are no message of the method's type become MALFORMED, which the
Ingress answers INVALID_ARGUMENT after its auth check. (gRPC's own answer to a decoder that raises is
UNKNOWN, with the decoder's exception class in its details.)"""

import sys

from google.protobuf.message import DecodeError
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc

sys.modules.setdefault("grpc_service_pb2", pb)

__all__ = ["MALFORMED", "Malformed", "add_servicer_to_server", "pb"]


class Malformed:
    """A request whose bytes did not decode as its method's message."""


MALFORMED = Malformed()


def _tolerant(decode):
    def decoding(data: bytes):
        try:
            return decode(data)
        except DecodeError:
            return MALFORMED
    return decoding


def _tolerant_handlers(handlers: dict) -> dict:
    return {name: handler._replace(request_deserializer=_tolerant(handler.request_deserializer))
            for name, handler in handlers.items()}


class _TolerantServer:
    """The server the generated code registers its handlers with, each handler's decoder made tolerant."""

    def __init__(self, server):
        self._server = server

    def add_generic_rpc_handlers(self, generic_handlers) -> None:
        for generic in generic_handlers:  # grpc's method_handlers_generic_handler, as Serve reads it too
            generic._method_handlers = _tolerant_handlers(generic._method_handlers)
        self._server.add_generic_rpc_handlers(generic_handlers)

    def add_registered_method_handlers(self, service: str, handlers: dict) -> None:
        self._server.add_registered_method_handlers(service, _tolerant_handlers(handlers))


def add_servicer_to_server(servicer, server) -> None:
    """grpc_options.grpc_servicer_functions: the GRPCInferenceService's methods on Serve's gRPC proxy."""
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, _TolerantServer(server))
