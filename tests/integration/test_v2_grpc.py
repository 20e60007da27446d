"""KServe V2 over gRPC through the official `tritonclient.grpc` client, unchanged: the same models and
graphs as over HTTP, the same answers, the key in the call's metadata, refusals as gRPC status codes."""

import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

from serve_app.common.shapes import SHAPE_LABELS, shape_png

IMAGES = np.array([shape_png(label, seed) for seed in (3000, 3001) for label in SHAPE_LABELS], dtype=object)
EXPECTED = [label for _ in (3000, 3001) for label in SHAPE_LABELS]


@pytest.fixture(scope="module")
def grpc_client(platform):
    with triton.InferenceServerClient(platform.grpc_url) as client:
        yield client


@pytest.fixture(scope="module")
def auth(platform):
    return {"authorization": f"Bearer {platform.api_key}"}


def image_input(images: np.ndarray = IMAGES) -> triton.InferInput:
    return triton.InferInput("IMAGE", list(images.shape), "BYTES").set_data_from_numpy(images)


def test_health_is_open_and_metadata_needs_a_key(grpc_client, auth):
    assert grpc_client.is_server_live() and grpc_client.is_server_ready()
    assert grpc_client.is_model_ready("classify", headers=auth)
    metadata = grpc_client.get_model_metadata("classify", headers=auth, as_json=True)
    assert metadata["name"] == "classify" and [i["name"] for i in metadata["inputs"]] == ["IMAGE"]
    assert grpc_client.get_server_metadata(headers=auth).extensions == ["binary_tensor_data"]


def test_classify_answers_as_over_http(grpc_client, auth):
    result = grpc_client.infer("classify", [image_input()], headers=auth,
                               outputs=[triton.InferRequestedOutput("LABEL"), triton.InferRequestedOutput("SCORE")])
    assert [label.decode() for label in result.as_numpy("LABEL")] == EXPECTED
    assert result.as_numpy("SCORE").dtype == np.float32 and result.as_numpy("PROBABILITIES") is None


def test_recommend_with_typed_contents(grpc_client, auth):
    users = triton.InferInput("USER_ID", [2], "INT64").set_data_from_numpy(np.array([7, 8], dtype=np.int64))
    result = grpc_client.infer("recommend", [users], headers=auth)
    assert result.as_numpy("ITEM_IDS").shape == (2, 10) and result.as_numpy("SCORES").dtype == np.float32


@pytest.mark.parametrize("headers, code", [
    ({}, "StatusCode.UNAUTHENTICATED"),
    ({"authorization": "Bearer sfk_00000000_" + "A" * 43}, "StatusCode.UNAUTHENTICATED"),
])
def test_refused_without_a_valid_key(grpc_client, headers, code):
    with pytest.raises(InferenceServerException) as refused:
        grpc_client.infer("classify", [image_input()], headers=headers)
    assert refused.value.status() == code


def test_a_missing_scope_is_permission_denied(grpc_client, new_api_key):
    key = new_api_key("graphs-only-grpc", scopes=("graphs",))
    with pytest.raises(InferenceServerException) as refused:
        grpc_client.get_model_metadata("classify", headers={"x-api-key": key})
    assert refused.value.status() == "StatusCode.PERMISSION_DENIED"


def test_client_mistakes_are_their_status_codes(grpc_client, auth):
    with pytest.raises(InferenceServerException) as unknown:
        grpc_client.infer("no-such-model", [image_input()], headers=auth)
    assert unknown.value.status() == "StatusCode.NOT_FOUND"
    wrong = triton.InferInput("TENSOR", [1, 2], "FP32").set_data_from_numpy(np.zeros((1, 2), np.float32))
    with pytest.raises(InferenceServerException) as invalid:
        grpc_client.infer("vision", [wrong], headers=auth)
    assert invalid.value.status() == "StatusCode.INVALID_ARGUMENT"
    broken = np.array([b"not an image"], dtype=object)
    with pytest.raises(InferenceServerException) as undecodable:
        grpc_client.infer("classify", [image_input(broken)], headers=auth)
    assert undecodable.value.status() == "StatusCode.INVALID_ARGUMENT"


def test_a_message_over_the_v2_limit_is_resource_exhausted(grpc_client, auth):
    huge = np.array([b"x" * (33 * 2**20)], dtype=object)
    with pytest.raises(InferenceServerException) as refused:
        grpc_client.infer("classify", [image_input(huge)], headers=auth)
    assert refused.value.status() == "StatusCode.RESOURCE_EXHAUSTED"


def test_a_malformed_message_is_invalid_argument_saying_nothing_internal(platform, auth):
    """Was: bytes that are no ModelInferRequest answered UNKNOWN, naming the decoder's exception class, before
    any auth check. Now the key is checked first, then the message refused as the client's mistake."""
    with grpc.insecure_channel(platform.grpc_url) as channel:
        infer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
        for metadata, code in ((None, grpc.StatusCode.UNAUTHENTICATED),
                               (tuple(auth.items()), grpc.StatusCode.INVALID_ARGUMENT)):
            with pytest.raises(grpc.RpcError) as refused:
                infer(b"\xff\xff\xff\xff not protobuf", metadata=metadata, timeout=30)
            assert refused.value.code() == code
            assert "Error" not in refused.value.details() and "class" not in refused.value.details()
