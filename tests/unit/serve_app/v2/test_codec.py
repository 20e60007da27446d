"""V2 tensors built and parsed by tritonclient itself, through the codec and the models' input checks."""

import gzip
import json
import zlib

import numpy as np
import pytest
import tritonclient.http as triton

from serve_app.common.errors import InvalidTensor
from serve_app.v2 import codec

IMAGES = np.array([b"\x89PNG\r\n\x1a\n\x00\x01", b"\xff\xd8\xff\x00"], dtype=object)
MATRIX = np.arange(10, dtype=np.float32).reshape(2, 5) / 7


def tensor(name: str, array: np.ndarray, binary: bool = True) -> triton.InferInput:
    datatype = "BYTES" if array.dtype == object else triton.np_to_triton_dtype(array.dtype)
    return triton.InferInput(name, list(array.shape), datatype).set_data_from_numpy(array, binary_data=binary)


def body(*inputs: triton.InferInput, outputs=None, **options) -> tuple[bytes, str | None]:
    payload, header_length = triton.InferenceServerClient.generate_request_body(list(inputs), outputs, **options)
    return payload, None if header_length is None else str(header_length)


@pytest.mark.parametrize("binary", [True, False])
def test_inputs_decode_from_binary_and_json(binary):
    ids = np.array([3, 2**40], np.int64)
    request, inputs = codec.decode_request(*body(tensor("FEATURES", MATRIX, binary), tensor("USER_ID", ids, binary),
                                                 request_id="r-1"))
    np.testing.assert_array_equal(inputs["FEATURES"], MATRIX)
    assert inputs["FEATURES"].dtype == np.float32 and inputs["USER_ID"].dtype == np.int64
    np.testing.assert_array_equal(inputs["USER_ID"], ids)
    # Without requested outputs tritonclient asks for every output as binary data.
    assert request.id == "r-1" and request.parameters.binary_data_output and request.outputs is None


def test_bytes_keep_every_byte_and_mix_with_json():
    labels = np.array([[b"circle"], [b"star"]], dtype=object)
    _, inputs = codec.decode_request(*body(tensor("IMAGE", IMAGES), tensor("LABEL", labels, binary=False)))
    assert list(inputs["IMAGE"]) == list(IMAGES) and inputs["IMAGE"].dtype == object
    assert inputs["LABEL"].shape == (2, 1) and inputs["LABEL"][1, 0] == b"star"


@pytest.mark.parametrize(("encoding", "compress"), [("gzip", gzip.compress), ("deflate", zlib.compress)])
def test_compressed_request_body(encoding, compress):
    # tritonclient's request_compression_algorithm compresses with exactly these functions.
    payload, header_length = body(tensor("FEATURES", MATRIX))
    _, inputs = codec.decode_request(compress(payload), header_length, encoding)
    np.testing.assert_array_equal(inputs["FEATURES"], MATRIX)


@pytest.mark.parametrize("binary", [True, False])
def test_response_parses_in_tritonclient(binary):
    outputs = {"LABEL": np.array([b"circle", b"star"], dtype=object), "SCORE": np.array([0.5, 0.25], np.float32),
               "ITEM_IDS": np.array([[1, 2], [3, 4]], np.int64)}
    payload, header_length = codec.encode_response("classify", "v7", "r-2", outputs, dict.fromkeys(outputs, binary))
    assert (header_length is not None) == binary
    result = triton.InferResult.from_response_body(payload, header_length=header_length)
    assert result.get_response()["model_name"] == "classify" and result.get_response()["id"] == "r-2"
    assert result.get_response()["model_version"] == "v7"
    assert [bytes(label) if binary else label.encode() for label in result.as_numpy("LABEL")] == [b"circle", b"star"]
    np.testing.assert_array_equal(result.as_numpy("SCORE"), outputs["SCORE"])
    np.testing.assert_array_equal(result.as_numpy("ITEM_IDS"), outputs["ITEM_IDS"])


def test_requested_outputs_choose_their_order_and_encoding():
    outputs = [triton.InferRequestedOutput("SCORE", binary_data=False), triton.InferRequestedOutput("LABEL")]
    request, _ = codec.decode_request(*body(tensor("IMAGE", IMAGES), outputs=outputs))
    assert codec.output_choices(request, ["LABEL", "SCORE", "PROBABILITIES"]) == {"SCORE": False, "LABEL": True}
    with pytest.raises(InvalidTensor, match="unknown output 'SCORE'"):
        codec.output_choices(request, ["LABEL"])


def test_json_only_request_defaults_to_json_outputs():
    request, _ = codec.decode_request(b'{"inputs": [{"name": "K", "shape": [1], "datatype": "INT32", "data": [5]}]}')
    assert codec.output_choices(request, ["ITEM_IDS"]) == {"ITEM_IDS": False}


def _json(datatype: str, shape: list[int], data) -> bytes:
    return json.dumps({"inputs": [{"name": "X", "datatype": datatype, "shape": shape, "data": data}]}).encode()


@pytest.mark.parametrize(("payload", "header_length", "message"), [
    (b"{not json", None, "malformed inference request"),
    (b'{"inputs": []}', None, "malformed inference request"),
    (_json("FP32", [-1], [1.0]), None, "greater than or equal to 0"),
    (_json("FP23", [1], [1.0]), None, "unknown datatype 'FP23'"),
    (_json("FP32", [3], [1.0, 2.0]), None, "has 2 elements, its shape needs 3"),
    (_json("INT64", [1], [1.5]), None, "does not fit INT64"),
    (_json("FP32", [1], ["a"]), None, "does not fit FP32"),
    (_json("INT32", [1], [2**40]), None, "out of range for INT32"),
    (_json("FP32", [2], [[1.0], [2.0, 3.0]]), None, "not a regular array"),
    (_json("BYTES", [1], [1]), None, "must be strings"),
    (_json("FP32", [1], None), None, "neither data nor binary_data_size"),
    (b"{}", "many", "Inference-Header-Content-Length"),
    (b"{}", "99", "Inference-Header-Content-Length"),
])
def test_malformed_requests_are_invalid_tensors(payload, header_length, message):
    with pytest.raises(InvalidTensor, match=message):
        codec.decode_request(payload, header_length)


def test_binary_sizes_must_match_shapes_and_body():
    payload, header_length = body(tensor("FEATURES", MATRIX))
    with pytest.raises(InvalidTensor, match="claims 40 bytes past the end"):
        codec.decode_request(payload[:-1], header_length)
    with pytest.raises(InvalidTensor, match="1 bytes of binary data belong to no input"):
        codec.decode_request(payload + b"\x00", header_length)
    wrong_shape = tensor("FEATURES", MATRIX).set_shape([2, 4])
    with pytest.raises(InvalidTensor, match="has 40 bytes, .* needs 32"):
        codec.decode_request(*body(wrong_shape))
    with pytest.raises(InvalidTensor, match="has 2 elements, its shape needs 3"):
        codec.decode_request(*body(tensor("IMAGE", IMAGES).set_shape([3])))
    payload, header_length = body(tensor("IMAGE", IMAGES))
    # The second image's length prefix claims more bytes than the tensor holds.
    corrupt = payload.replace(b"\x04\x00\x00\x00\xff", b"\x09\x00\x00\x00\xff")
    with pytest.raises(InvalidTensor, match="past the end of its data"):
        codec.decode_request(corrupt, header_length)
