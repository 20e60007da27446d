"""What a V2 request may cost: compressed bodies inflate only up to the limit, inputs are counted and shapes
measured before numpy sees them, and every refusal is a 400 or 413, never a 500."""

import gzip
import json
import time
import tracemalloc
import zlib

import numpy as np
import pytest
import tritonclient.http as triton

from serve_app.common import input_limits as limits_module
from serve_app.common.errors import InvalidTensor, PayloadTooLarge
from serve_app.common.input_limits import MiB, InputLimits
from serve_app.v2 import codec

MATRIX = np.arange(10, dtype=np.float32).reshape(2, 5)


def _body(*arrays: np.ndarray, binary: bool = True) -> tuple[bytes, str | None]:
    inputs = [triton.InferInput(f"X{i}", list(array.shape), triton.np_to_triton_dtype(array.dtype))
              .set_data_from_numpy(array, binary_data=binary) for i, array in enumerate(arrays)]
    payload, header_length = triton.InferenceServerClient.generate_request_body(inputs)
    return payload, None if header_length is None else str(header_length)


def _json(shape: list[int], data: list, datatype: str = "FP32") -> bytes:
    return json.dumps({"inputs": [{"name": "X", "datatype": datatype, "shape": shape, "data": data}]}).encode()


@pytest.mark.parametrize("value", ["²", "１２", "1_0", " 12", "+12", "-1", "0" * 5000, ""])
def test_header_length_takes_ascii_digits_only(value):
    with pytest.raises(InvalidTensor, match="Inference-Header-Content-Length"):
        codec.decode_request(b"{}" * 20, value)


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    """Per Content-Encoding, about 370 KB that would inflate to 80 MiB of zeros."""
    def bomb(wbits: int) -> bytes:
        deflater, zeros = zlib.compressobj(1, wbits=wbits), bytes(MiB)
        return b"".join(deflater.compress(zeros) for _ in range(80)) + deflater.flush()
    return {"gzip": bomb(31), "deflate": bomb(15)}


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@pytest.mark.parametrize("ratio", [100, 10**6])
def test_a_decompression_bomb_stops_at_the_limit_without_inflating_it(monkeypatch, bombs, encoding, ratio):
    monkeypatch.setattr(limits_module, "_current", InputLimits(decompression_ratio=ratio))
    bomb = bombs[encoding]
    limit = min(64 * MiB, ratio * len(bomb))
    tracemalloc.start()
    started = time.process_time()  # CPU time: a starved machine must not fail this
    with pytest.raises(PayloadTooLarge, match=f"inflates to more than {limit} bytes"):
        codec.decode_request(bomb, None, encoding)
    elapsed, (_, peak) = time.process_time() - started, tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Memory stays within the limit (plus one step of zlib's), never the 80 MiB the body inflates to.
    assert peak < limit + 2 * MiB and elapsed < 2


@pytest.mark.parametrize(("encoding", "compress"), [("gzip", gzip.compress), ("deflate", zlib.compress)])
def test_bodies_larger_than_a_step_inflate_whole(encoding, compress):
    features = np.random.default_rng(0).random((800_001,), np.float32)  # past 3 MiB: several of zlib's steps
    payload, header_length = _body(features)
    _, inputs = codec.decode_request(compress(payload), header_length, encoding)
    np.testing.assert_array_equal(inputs["X0"], features)


def test_the_ratio_limits_small_bodies_more_tightly(monkeypatch):
    monkeypatch.setattr(limits_module, "_current", InputLimits(decompression_ratio=10))
    payload, header_length = _body(np.zeros((100, 100), np.float32))
    compressed = gzip.compress(payload)
    assert len(payload) > 10 * len(compressed)
    with pytest.raises(PayloadTooLarge, match=f"limit for a {len(compressed)}-byte body"):
        codec.decode_request(compressed, header_length, "gzip")
    monkeypatch.setattr(limits_module, "_current", InputLimits(decompression_ratio=10**6))
    _, inputs = codec.decode_request(compressed, header_length, "gzip")
    assert inputs["X0"].shape == (100, 100)


def test_a_body_exactly_at_the_limit_passes(monkeypatch):
    payload, header_length = _body(MATRIX)
    monkeypatch.setattr(limits_module, "_current", InputLimits(decompressed_bytes=len(payload)))
    _, inputs = codec.decode_request(zlib.compress(payload), header_length, "deflate")
    np.testing.assert_array_equal(inputs["X0"], MATRIX)
    monkeypatch.setattr(limits_module, "_current", InputLimits(decompressed_bytes=len(payload) - 1))
    with pytest.raises(PayloadTooLarge):
        codec.decode_request(zlib.compress(payload), header_length, "deflate")


@pytest.mark.parametrize(("encoding", "body"), [
    ("gzip", b"not gzip at all"),
    ("gzip", gzip.compress(_json([1], [1.0]))[:-5]),  # truncated
    ("gzip", gzip.compress(_json([1], [1.0])) + b"junk"),
    ("deflate", zlib.compress(_json([1], [1.0]))[:-3]),
    ("deflate", b""),
    ("br", b"{}"),
])
def test_corrupt_or_unknown_encodings_stay_invalid_tensors(encoding, body):
    with pytest.raises(InvalidTensor):
        codec.decode_request(body, None, encoding)


def test_more_inputs_than_the_limit_are_too_large(monkeypatch):
    arrays = [MATRIX] * 33
    with pytest.raises(PayloadTooLarge, match="33 inputs, the limit is 32"):
        codec.decode_request(*_body(*arrays))
    _, inputs = codec.decode_request(*_body(*arrays[:32]))
    assert len(inputs) == 32
    monkeypatch.setattr(limits_module, "_current", InputLimits(v2_inputs=1))
    with pytest.raises(PayloadTooLarge, match="2 inputs, the limit is 1"):
        codec.decode_request(*_body(MATRIX, MATRIX))


@pytest.mark.parametrize("payload", [
    _json([0, 10**30], []),
    _json([0, 2**62], []),
    _json([2**40], []),
    _json([0, 2**62], [], "BYTES"),
    _json([16 * MiB + 1], [], "FP32"),  # 4 bytes each: just over 64 MiB
    json.dumps({"inputs": [{"name": "X", "datatype": "INT64", "shape": [2**40, 2**40],
                            "parameters": {"binary_data_size": 0}}]}).encode(),
])
def test_shapes_larger_than_any_request_are_refused_before_numpy(payload):
    with pytest.raises(PayloadTooLarge, match="bytes a request may carry"):
        codec.decode_request(payload)


def test_more_dimensions_than_numpy_takes_are_invalid():
    with pytest.raises(InvalidTensor, match="100 dimensions, the limit is 32"):
        codec.decode_request(_json([0] * 100, []))
    _, inputs = codec.decode_request(_json([1] * 32, [1.0]))
    assert inputs["X"].ndim == 32


def test_empty_tensors_with_wide_dimensions_still_pass():
    _, inputs = codec.decode_request(_json([0, 512], []))
    assert inputs["X"].shape == (0, 512)
    payload, header_length = _body(np.zeros((0, 512), np.float32))
    assert codec.decode_request(payload, header_length)[1]["X0"].shape == (0, 512)
