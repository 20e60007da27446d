"""The V2 routes answer every failure as a V2 error body (`{"error": ...}`) with its own status, without Ray:
the router on a bare FastAPI app over a fake model repository."""

import gzip
import zlib

import numpy as np
import pytest
import tritonclient.http as triton
from fastapi import FastAPI
from fastapi.testclient import TestClient
from ray.serve.exceptions import BackPressureError

from serve_app.common import input_limits as limits_module
from serve_app.common.errors import UnknownModel
from serve_app.common.input_limits import MiB, InputLimits
from serve_app.common.model_metadata import ModelMetadata, TensorMetadata
from serve_app.v2.models import V2Model
from serve_app.v2.router import router

RANKER = ModelMetadata(name="ranker", versions=["abc"], platform="lightgbm",
                       inputs=[TensorMetadata(name="FEATURES", datatype="FP32", shape=[-1, 5])],
                       outputs=[TensorMetadata(name="SCORE", datatype="FP32", shape=[-1])])
FEATURES = np.ones((2, 5), np.float32)


class FakeModels:
    """The ranker, whose run raises `failure` when one is set."""

    failure: Exception | None = None

    async def find(self, name: str) -> V2Model:
        if name != "ranker":
            raise UnknownModel(f"unknown model {name!r}")
        return V2Model(metadata=RANKER, deployments=("Ranker",), run=self.run)

    async def run(self, inputs):
        if self.failure is not None:
            raise self.failure
        return {"SCORE": inputs["FEATURES"].sum(axis=1)}


@pytest.fixture
def models() -> FakeModels:
    return FakeModels()


@pytest.fixture
def client(models) -> TestClient:
    app = FastAPI()
    app.include_router(router)
    app.state.models = models
    return TestClient(app, raise_server_exceptions=False)


def _body(*arrays: np.ndarray, name: str = "FEATURES") -> tuple[bytes, dict[str, str]]:
    inputs = [triton.InferInput(name if not i else f"{name}{i}", list(array.shape), "FP32")
              .set_data_from_numpy(array) for i, array in enumerate(arrays)]
    payload, header_length = triton.InferenceServerClient.generate_request_body(inputs)
    return payload, {"Inference-Header-Content-Length": str(header_length)}


def _infer(client: TestClient, content: bytes, headers: dict[str, str] | None = None, model: str = "ranker"):
    return client.post(f"/v2/models/{model}/infer", content=content, headers=headers or {})


def test_a_good_request_still_answers(client):
    payload, headers = _body(FEATURES)
    response = _infer(client, gzip.compress(payload), {**headers, "Content-Encoding": "gzip"})
    assert response.status_code == 200
    result = triton.InferResult.from_response_body(
        response.content, header_length=int(response.headers["Inference-Header-Content-Length"]))
    np.testing.assert_array_equal(result.as_numpy("SCORE"), [5.0, 5.0])


def _v2_error(response, status: int, fragment: str) -> None:
    assert response.status_code == status
    assert set(response.json()) == {"error"} and fragment in response.json()["error"]


def test_a_decompression_bomb_is_413(client):
    bomb = zlib.compress(bytes(80 * MiB), 1)
    _v2_error(_infer(client, bomb, {"Content-Encoding": "deflate"}), 413, "inflates to more than")


def test_corrupt_compression_is_400(client):
    _v2_error(_infer(client, b"not gzip", {"Content-Encoding": "gzip"}), 400, "not valid gzip")


# More digits than int() reads (4,300) was a 500; "²" is checked in test_codec_limits (the test client
# re-encodes a header's non-ASCII bytes).
@pytest.mark.parametrize("value", ["1" * 5000, "12 bytes"])
def test_a_bad_header_length_is_400(client, value):
    payload, _ = _body(FEATURES)
    _v2_error(_infer(client, payload, {"Inference-Header-Content-Length": value}), 400,
              "Inference-Header-Content-Length")


def test_too_many_inputs_are_413(client, monkeypatch):
    monkeypatch.setattr(limits_module, "_current", InputLimits(v2_inputs=2))
    _v2_error(_infer(client, *_body(FEATURES, FEATURES, FEATURES)), 413, "3 inputs, the limit is 2")


@pytest.mark.parametrize(("shape", "status"), [([0, 10**30], 413), ([2**40, 5], 413), ([1] * 40, 400)])
def test_impossible_shapes_are_4xx(client, shape, status):
    body = {"inputs": [{"name": "FEATURES", "datatype": "FP32", "shape": shape, "data": []}]}
    _v2_error(client.post("/v2/models/ranker/infer", json=body), status, "FEATURES")


@pytest.mark.parametrize(("failure", "status"), [
    (BackPressureError(num_queued_requests=9, max_queued_requests=8), 429),
    (ValueError("a bug"), 500),
])
def test_failures_past_the_codec_keep_their_status_and_the_v2_body(client, models, failure, status):
    models.failure = failure
    response = _infer(client, *_body(FEATURES))
    assert response.status_code == status and set(response.json()) == {"error"}
    if status == 500:
        assert response.json() == {"error": "internal error"}  # nothing of the bug leaks


def test_an_unknown_model_is_404(client):
    _v2_error(_infer(client, *_body(FEATURES), model="nope"), 404, "unknown model 'nope'")
