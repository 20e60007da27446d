"""Tensors of V2 requests and responses ↔ numpy, in JSON or Triton's binary tensor data extension.

With the extension the body is the JSON header followed by the raw tensors, in input (output) order;
the `Inference-Header-Content-Length` header says where the JSON ends and each tensor's
`binary_data_size` parameter how many bytes it takes. BYTES tensors are serialized as a 4-byte
little-endian length before each element.
"""

import math
import struct
import zlib

import numpy as np
from pydantic import ValidationError

from serve_app.common.errors import InvalidTensor, PayloadTooLarge
from serve_app.common.input_limits import input_limits
from serve_app.common.model_metadata import DATATYPE_OF, DATATYPES
from serve_app.v2.protocol import InferenceRequest, InferenceResponse, RequestInput, ResponseOutput, describe

HEADER_LENGTH = "Inference-Header-Content-Length"
# zlib's window bits per Content-Encoding: 31 reads a gzip stream, 15 a zlib one (HTTP's "deflate").
_WBITS = {"gzip": 31, "deflate": 15}
# What one zlib call may read or write: its copies of unread input stay this small.
_STEP = 1 * 1024 * 1024
# More dimensions than any model takes, and within numpy's own limit (64).
MAX_DIMS = 32


def decode_request(body: bytes, header_length: str | None = None,
                   content_encoding: str | None = None) -> tuple[InferenceRequest, dict[str, np.ndarray]]:
    """The request and its input tensors by name; raises InvalidTensor for anything malformed and
    PayloadTooLarge for a body that inflates, or inputs that number or measure, past the limits."""
    if content_encoding:
        body = _inflate(body, content_encoding)
    split = len(body) if header_length is None else _parse_length(header_length, len(body))
    try:
        request = InferenceRequest.model_validate_json(body[:split])
    except ValidationError as error:
        raise InvalidTensor(f"malformed inference request: {describe(error)}") from None
    return request, decode_tensors(request, body[split:])


def decode_tensors(request: InferenceRequest, binary: bytes) -> dict[str, np.ndarray]:
    """The request's input tensors by name: JSON `data`, or their `binary_data_size` bytes of `binary` in
    input order (HTTP's binary extension and gRPC's raw_input_contents share this layout)."""
    most = input_limits().v2_inputs
    if len(request.inputs) > most:
        raise PayloadTooLarge(f"the request has {len(request.inputs)} inputs, the limit is {most}")
    offset, tensors = 0, {}
    for tensor in request.inputs:
        if tensor.name in tensors:
            raise InvalidTensor(f"input {tensor.name!r} appears twice")
        if tensor.datatype not in DATATYPES:
            raise InvalidTensor(f"input {tensor.name!r} has unknown datatype {tensor.datatype!r}")
        _check_shape(tensor)
        size = tensor.parameters.binary_data_size
        if size is None:
            tensors[tensor.name] = _from_json(tensor)
            continue
        if offset + size > len(binary):
            raise InvalidTensor(f"input {tensor.name!r} claims {size} bytes past the end of the body")
        tensors[tensor.name] = _from_binary(tensor, binary[offset:offset + size])
        offset += size
    if offset != len(binary):
        raise InvalidTensor(f"{len(binary) - offset} bytes of binary data belong to no input")
    return tensors


def output_choices(request: InferenceRequest, available: list[str]) -> dict[str, bool]:
    """The outputs to answer, in order, each with whether it goes as binary data."""
    default = request.parameters.binary_data_output
    if request.outputs is None:
        return dict.fromkeys(available, default)
    choices = {}
    for output in request.outputs:
        if output.name not in available:
            raise InvalidTensor(f"unknown output {output.name!r}, the model has {available}")
        binary = output.parameters.binary_data
        choices[output.name] = default if binary is None else binary
    return choices


def encode_response(model_name: str, model_version: str, request_id: str | None, outputs: dict[str, np.ndarray],
                    choices: dict[str, bool]) -> tuple[bytes, int | None]:
    """The response body and, when any output is binary, the length of its JSON header."""
    described, chunks = [], []
    for name, binary in choices.items():
        array = outputs[name]
        datatype = DATATYPE_OF[array.dtype]
        output = ResponseOutput(name=name, datatype=datatype, shape=list(array.shape))
        if binary:
            chunk = tensor_bytes(array)
            output.parameters = {"binary_data_size": len(chunk)}
            chunks.append(chunk)
        else:
            flat = array.reshape(-1)
            output.data = [item.decode() for item in flat] if datatype == "BYTES" else flat.tolist()
        described.append(output)
    header = InferenceResponse(model_name=model_name, model_version=model_version, id=request_id,
                               outputs=described).model_dump_json(exclude_none=True).encode()
    return (header + b"".join(chunks), len(header)) if chunks else (header, None)


def _inflate(body: bytes, encoding: str) -> bytes:
    """The decoded body, inflated in steps that stop one byte past the limit: a small body that would
    inflate to gigabytes is refused holding no more than the limit."""
    if encoding not in _WBITS:
        raise InvalidTensor(f"unsupported Content-Encoding {encoding!r}")
    limits = input_limits()
    limit = min(limits.decompressed_bytes, limits.decompression_ratio * len(body))
    inflater = zlib.decompressobj(wbits=_WBITS[encoding])
    view, offset, parts, size = memoryview(body), 0, [], 0
    try:
        while not inflater.eof:
            # Input in steps too: zlib copies what a step leaves unread (unconsumed_tail) on every call.
            piece = view[offset:offset + _STEP]
            part = inflater.decompress(piece, min(_STEP, limit - size + 1))
            consumed = len(piece) - len(inflater.unconsumed_tail)
            if not part and not consumed:
                break  # the body ended before the stream did
            offset, size = offset + consumed, size + len(part)
            if size > limit:
                raise PayloadTooLarge(f"the {encoding} body inflates to more than {limit} bytes, the limit for "
                                      f"a {len(body)}-byte body ({limits.decompression_ratio} times its size, "
                                      f"at most {limits.decompressed_bytes})")
            parts.append(part)
    except zlib.error:
        raise InvalidTensor(f"the body is not valid {encoding}") from None
    # One complete stream and nothing after it: a truncated or padded body is not what the client meant.
    if not inflater.eof or inflater.unused_data or offset < len(body):
        raise InvalidTensor(f"the body is not valid {encoding}")
    return b"".join(parts)


def _check_shape(tensor: RequestInput) -> None:
    """Refuses a shape before numpy sees it: numpy itself fails (a 500) past 64 dimensions or 2**63 bytes,
    and no request can carry a tensor larger than the largest body it may send or inflate to."""
    if len(tensor.shape) > MAX_DIMS:
        raise InvalidTensor(f"input {tensor.name!r} has {len(tensor.shape)} dimensions, the limit is {MAX_DIMS}")
    limits = input_limits()
    largest = max(limits.body_bytes.v2, limits.decompressed_bytes)
    # Zeros are skipped: [0, 10**30] holds nothing, yet numpy cannot make that shape either.
    extent = math.prod(dim or 1 for dim in tensor.shape) * DATATYPES[tensor.datatype].itemsize
    if extent > largest:
        raise PayloadTooLarge(f"input {tensor.name!r} of shape {tensor.shape} and {tensor.datatype} takes more "
                              f"than the {largest} bytes a request may carry")


def _parse_length(value: str, body_length: int) -> int:
    # str.isdigit() also accepts "²", which int() refuses; and int() refuses more than 4,300 digits.
    if not (value.isascii() and value.isdigit() and len(value) <= 20) or int(value) > body_length:
        raise InvalidTensor(f"{HEADER_LENGTH} must be a byte count within the body, not {value[:32]!r}")
    return int(value)


def _from_json(tensor: RequestInput) -> np.ndarray:
    if tensor.data is None:
        raise InvalidTensor(f"input {tensor.name!r} has neither data nor binary_data_size")
    dtype, count = DATATYPES[tensor.datatype], math.prod(tensor.shape)
    try:
        values = np.asarray(tensor.data, dtype=object if tensor.datatype == "BYTES" else None).reshape(-1)
    except ValueError:
        raise InvalidTensor(f"input {tensor.name!r} data is not a regular array") from None
    if values.size != count:
        raise InvalidTensor(f"input {tensor.name!r} has {values.size} elements, its shape needs {count}")
    if tensor.datatype == "BYTES":
        if not all(isinstance(value, str) for value in values):
            raise InvalidTensor(f"input {tensor.name!r} is BYTES, its JSON data must be strings")
        return np.array([value.encode() for value in values], dtype=object).reshape(tensor.shape)
    # Same-kind casts only: 1.5 must not become the integer 1, nor "a" anything at all.
    if values.size and not (values.dtype.kind in "biuf" and np.can_cast(values.dtype, dtype, "same_kind")):
        raise InvalidTensor(f"input {tensor.name!r} data does not fit {tensor.datatype}")
    if values.size and dtype.kind in "iu":
        limits = np.iinfo(dtype)
        if values.min() < limits.min or values.max() > limits.max:
            raise InvalidTensor(f"input {tensor.name!r} data is out of range for {tensor.datatype}")
    return values.astype(dtype).reshape(tensor.shape)


def _from_binary(tensor: RequestInput, chunk: bytes) -> np.ndarray:
    count = math.prod(tensor.shape)
    if tensor.datatype == "BYTES":
        elements = _split_bytes(tensor.name, chunk)
        if len(elements) != count:
            raise InvalidTensor(f"input {tensor.name!r} has {len(elements)} elements, its shape needs {count}")
        return np.array(elements, dtype=object).reshape(tensor.shape)
    dtype = DATATYPES[tensor.datatype]
    if len(chunk) != count * dtype.itemsize:
        raise InvalidTensor(f"input {tensor.name!r} has {len(chunk)} bytes, "
                            f"{tensor.shape} of {tensor.datatype} needs {count * dtype.itemsize}")
    return np.frombuffer(chunk, dtype).reshape(tensor.shape)


def _split_bytes(name: str, chunk: bytes) -> list[bytes]:
    elements, offset = [], 0
    while offset < len(chunk):
        if offset + 4 > len(chunk):
            raise InvalidTensor(f"input {name!r} ends inside a BYTES element's length")
        (length,) = struct.unpack_from("<I", chunk, offset)
        offset += 4
        if offset + length > len(chunk):
            raise InvalidTensor(f"input {name!r} has a BYTES element past the end of its data")
        elements.append(chunk[offset:offset + length])
        offset += length
    return elements


def tensor_bytes(array: np.ndarray) -> bytes:
    """A tensor's raw bytes: BYTES elements each after a 4-byte little-endian length, others as they lie."""
    if array.dtype == object:
        return b"".join(struct.pack("<I", len(item)) + item for item in array.reshape(-1))
    return np.ascontiguousarray(array).tobytes()
