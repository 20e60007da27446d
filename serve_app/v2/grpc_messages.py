"""The V2 gRPC messages: tritonclient's generated protobuf, made picklable. Its classes say they live in
a module `grpc_service_pb2`, which cannot be imported, and Serve's gRPC proxy pickles every request to
hand it to a replica (and every answer back): that name is pointed at the real module, in the proxy
(through the servicer function serve_config.yaml names) and in the replica (on import)."""

import sys

from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc

sys.modules.setdefault("grpc_service_pb2", pb)

__all__ = ["add_servicer_to_server", "pb"]


def add_servicer_to_server(servicer, server) -> None:
    """grpc_options.grpc_servicer_functions: the GRPCInferenceService's methods on Serve's gRPC proxy."""
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, server)
