"""The KServe V2 protocol through the official `tritonclient.http` client, against the deployed platform."""

import ast
import json

import httpx
import lightgbm as lgb
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from serve_app.artifacts import ArtifactLayout
from serve_app.common.shapes import SHAPE_LABELS, shape_png
from tests.integration.triton_auth import BearerAuth

IMAGES = np.array([shape_png(label, seed) for seed in (2000, 2001) for label in SHAPE_LABELS], dtype=object)
EXPECTED = [label for _ in (2000, 2001) for label in SHAPE_LABELS]


@pytest.fixture(scope="module")
def triton_client(platform):
    with triton.InferenceServerClient(url=platform.base_url.removeprefix("http://"), network_timeout=120) as client:
        client.register_plugin(BearerAuth(platform.api_key))
        yield client


def tensor(name: str, array: np.ndarray, binary: bool = True) -> triton.InferInput:
    datatype = "BYTES" if array.dtype == object else triton.np_to_triton_dtype(array.dtype)
    return triton.InferInput(name, list(array.shape), datatype).set_data_from_numpy(array, binary_data=binary)


def json_outputs(*names: str) -> list[triton.InferRequestedOutput]:
    return [triton.InferRequestedOutput(name, binary_data=False) for name in names]


def labels(result: triton.InferResult) -> list[str]:
    return [label.decode() if isinstance(label, bytes) else label for label in result.as_numpy("LABEL")]


def test_server_is_live_ready_and_speaks_binary_tensors(triton_client):
    assert triton_client.is_server_live() and triton_client.is_server_ready()
    assert "binary_tensor_data" in triton_client.get_server_metadata()["extensions"]


@pytest.mark.parametrize(("model", "inputs", "outputs"), [
    ("preprocess", [("IMAGE", "BYTES", [-1])], [("TENSOR", "FP32", [-1, 3, 64, 64])]),
    ("vision", [("TENSOR", "FP32", [-1, 3, 64, 64])], [("PROBABILITIES", "FP32", [-1, 4]), ("LABEL", "BYTES", [-1])]),
    ("classify", [("IMAGE", "BYTES", [-1])],
     [("LABEL", "BYTES", [-1]), ("SCORE", "FP32", [-1]), ("PROBABILITIES", "FP32", [-1, 4])]),
    ("ranker", [("FEATURES", "FP32", [-1, 5])], [("SCORE", "FP32", [-1])]),
    ("recommend", [("USER_ID", "INT64", [-1]), ("K", "INT32", [1])],
     [("ITEM_IDS", "INT64", [-1, -1]), ("SCORES", "FP32", [-1, -1])]),
])
def test_model_metadata_and_readiness(triton_client, model, inputs, outputs):
    metadata = triton_client.get_model_metadata(model)
    assert metadata["name"] == model
    assert [(t["name"], t["datatype"], t["shape"]) for t in metadata["inputs"]] == inputs
    assert [(t["name"], t["datatype"], t["shape"]) for t in metadata["outputs"]] == outputs
    assert triton_client.is_model_ready(model)


@pytest.mark.parametrize("binary", [True, False])
def test_preprocess_then_vision_names_the_shapes(triton_client, binary):
    # Encoded images only go as binary data: tritonclient sends JSON BYTES as UTF-8 text.
    tensors = triton_client.infer("preprocess", [tensor("IMAGE", IMAGES)]).as_numpy("TENSOR")
    assert tensors.shape == (len(IMAGES), 3, 64, 64) and tensors.dtype == np.float32
    outputs = None if binary else json_outputs("LABEL", "PROBABILITIES")
    result = triton_client.infer("vision", [tensor("TENSOR", tensors, binary)], outputs=outputs)
    assert labels(result) == EXPECTED
    np.testing.assert_allclose(result.as_numpy("PROBABILITIES").sum(axis=1), 1, rtol=1e-5)


@pytest.mark.parametrize("binary", [True, False])
def test_classify_names_the_shapes(triton_client, binary):
    outputs = None if binary else json_outputs("LABEL", "SCORE", "PROBABILITIES")
    result = triton_client.infer("classify", [tensor("IMAGE", IMAGES)], outputs=outputs)
    assert labels(result) == EXPECTED
    probabilities = result.as_numpy("PROBABILITIES")
    assert probabilities.shape == (len(IMAGES), 4)
    np.testing.assert_allclose(result.as_numpy("SCORE"), probabilities.max(axis=1), rtol=1e-6)


@pytest.mark.parametrize("binary", [True, False])
def test_ranker_scores_like_the_model_artifact(triton_client, artifacts_dir, binary):
    booster = lgb.Booster(model_file=str(ArtifactLayout(root=artifacts_dir).ranker / "model.txt"))
    rng = np.random.default_rng(3)
    # category_affinity, affinity_lift, user_ctr, item_ctr, item_impressions
    features = np.column_stack([rng.uniform(0, 0.6, 32), rng.uniform(-0.3, 0.3, 32), rng.uniform(0, 0.4, 32),
                                rng.uniform(0, 0.4, 32), rng.integers(1, 500, 32)]).astype(np.float32)
    outputs = None if binary else json_outputs("SCORE")
    scores = triton_client.infer("ranker", [tensor("FEATURES", features, binary)], outputs=outputs).as_numpy("SCORE")
    np.testing.assert_allclose(scores, booster.predict(features.astype(np.float64)), rtol=1e-5)


def test_compressed_requests(triton_client):
    features = np.zeros((2, 5), np.float32)
    for algorithm in ("gzip", "deflate"):
        # The response comes back uncompressed; tritonclient accepts that.
        result = triton_client.infer("ranker", [tensor("FEATURES", features)], request_compression_algorithm=algorithm,
                                     response_compression_algorithm=algorithm)
        assert result.as_numpy("SCORE").shape == (2,)


@pytest.mark.parametrize("binary", [True, False])
def test_recommend_matches_the_json_graph(triton_client, client, binary):
    users = np.array([1, 2, 3], np.int64)
    inputs = [tensor("USER_ID", users, binary), tensor("K", np.array([5], np.int32), binary)]
    result = triton_client.infer("recommend", inputs, outputs=None if binary else json_outputs("ITEM_IDS", "SCORES"))
    item_ids, scores = result.as_numpy("ITEM_IDS"), result.as_numpy("SCORES")
    assert item_ids.shape == scores.shape == (3, 5)
    for user_id, row in zip(users, item_ids):
        answer = client.post("/v1/graphs/recommend", json={"user_id": int(user_id), "k": 5}).json()
        assert row.tolist() == [item["item_id"] for item in answer["items"]]
    assert triton_client.infer("recommend", inputs[:1]).as_numpy("ITEM_IDS").shape == (3, 10)


@pytest.mark.parametrize(("model", "inputs", "message"), [
    ("ranker", [tensor("ROWS", np.zeros((2, 5), np.float32))], "unknown ['ROWS'], missing ['FEATURES']"),
    ("ranker", [tensor("FEATURES", np.zeros((2, 4), np.float32))], "shape [2, 4], expected [-1, 5]"),
    ("ranker", [tensor("FEATURES", np.zeros((2, 5), np.float64), binary=False)], "is FP64, expected FP32"),
    ("vision", [tensor("TENSOR", np.zeros((1, 3, 32, 32), np.float32))], "expected [-1, 3, 64, 64]"),
    ("classify", [tensor("IMAGE", np.array([b"not an image"], dtype=object))], "could not be decoded"),
    ("preprocess", [tensor("IMAGE", np.array([IMAGES[0][:40]], dtype=object))], "could not be decoded"),
    ("recommend", [tensor("USER_ID", np.array([1], np.int64)), tensor("K", np.array([0], np.int32))],
     "greater than or equal to 1"),
])
def test_bad_inputs_are_400_with_a_v2_error(triton_client, model, inputs, message):
    with pytest.raises(InferenceServerException) as raised:
        triton_client.infer(model, inputs)
    assert raised.value.status() == "400" and message in raised.value.message()


def test_request_body_from_tritonclient_over_plain_http(platform):
    request, header_length = triton.InferenceServerClient.generate_request_body([tensor("IMAGE", IMAGES[:2])])
    response = httpx.post(f"{platform.base_url}/v2/models/classify/infer", content=request, timeout=60,
                          headers={**platform.headers, "Inference-Header-Content-Length": str(header_length)})
    assert response.status_code == 200 and response.headers["content-type"] == "application/octet-stream"
    result = triton.InferenceServerClient.parse_response_body(
        response.content, header_length=int(response.headers["Inference-Header-Content-Length"]))
    assert labels(result) == EXPECTED[:2]


def test_wrong_byte_size_is_400_with_a_v2_error(platform):
    header = json.dumps({"inputs": [{"name": "FEATURES", "shape": [1, 5], "datatype": "FP32",
                                     "parameters": {"binary_data_size": 16}}]}).encode()
    response = httpx.post(f"{platform.base_url}/v2/models/ranker/infer", content=header + bytes(16),
                          headers={**platform.headers, "Inference-Header-Content-Length": str(len(header))}, timeout=60)
    assert response.status_code == 400
    assert response.json() == {"error": "input 'FEATURES' has 16 bytes, [1, 5] of FP32 needs 20"}


def test_unknown_model_is_404(triton_client, client):
    assert not triton_client.is_model_ready("resnet")
    error = client.get("/v2/models/resnet/ready").json()["error"]
    named = ast.literal_eval(error.removeprefix("unknown model 'resnet'; the models are "))
    assert named == sorted(named) and {"classify", "recommend", "vision", "ranker", "preprocess"} <= set(named)
    for call in (lambda: triton_client.get_model_metadata("resnet"),
                 lambda: triton_client.infer("resnet", [tensor("IMAGE", IMAGES)])):
        with pytest.raises(InferenceServerException) as raised:
            call()
        assert raised.value.status() == "404" and "unknown model 'resnet'" in raised.value.message()


def test_any_declared_graph_is_a_v2_model_of_json_rows(triton_client, client):
    """caption is declared in serve_config.yaml only; V2 runs it once per INPUT row, like POST /v1/graphs/caption."""
    import base64

    assert triton_client.is_model_ready("caption")
    bodies = [{"image": base64.b64encode(image).decode()} for image in IMAGES[:2]]
    rows = np.array([json.dumps(body).encode() for body in bodies], dtype=object)
    answers = [json.loads(row) for row in triton_client.infer("caption", [tensor("INPUT", rows)]).as_numpy("OUTPUT")]
    assert [answer["label"] for answer in answers] == EXPECTED[:2]
    assert all(answer["caption"].strip() for answer in answers)
    assert answers[0]["label"] == client.post("/v1/graphs/caption", json=bodies[0]).json()["label"]
    with pytest.raises(InferenceServerException) as refused:
        triton_client.infer("caption", [tensor("INPUT", np.array([b'{"picture": "x"}'], dtype=object))])
    assert refused.value.status() == "400" and "image" in refused.value.message()
