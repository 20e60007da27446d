"""Bad input gets application/problem+json with the right status, never a traceback."""

import base64

import pytest

from serve_app.common.shapes import shape_png

PNG = shape_png("circle", 5)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def assert_problem(response, status: int, title: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["title"] == title
    assert body["status"] == status
    assert body["requestId"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return body


@pytest.mark.parametrize("path", ["/v1/graphs/classify", "/v1/graphs/recommend", "/v1/graphs/caption"])
def test_malformed_json_is_400(client, path):
    response = client.post(path, content=b'{"image": ', headers={"content-type": "application/json"})
    assert_problem(response, 400, "malformed_json")


def test_body_that_is_not_declared_json_is_415(client):
    response = client.post("/v1/graphs/recommend", content=b'{"user_id": 1}',
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert_problem(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("payload, field", [
    ({}, "image"),
    ({"image": ""}, "image"),
    ({"image": b64(PNG), "colour": "red"}, "colour"),
])
def test_invalid_image_request_is_422_with_field_errors(client, payload, field):
    body = assert_problem(client.post("/v1/graphs/classify", json=payload), 422, "validation_failed")
    assert field in [error["field"] for error in body["errors"]]


@pytest.mark.parametrize("payload, field", [
    ({"user_id": "abc"}, "user_id"),
    ({"user_id": 1.5}, "user_id"),
    ({"user_id": 1, "k": 0}, "k"),
    ({"user_id": 1, "k": 1000}, "k"),
])
def test_invalid_recommend_request_is_422(client, payload, field):
    body = assert_problem(client.post("/v1/graphs/recommend", json=payload), 422, "validation_failed")
    assert field in [error["field"] for error in body["errors"]]


@pytest.mark.parametrize("image", [
    "not base64 at all!!",
    b64(b"GIF89a not a png or jpeg"),
    b64(PNG[: len(PNG) // 2]),
    b64(b"\xff\xd8\xff" + b"\x00" * 64),
])
@pytest.mark.parametrize("path", ["/v1/graphs/classify", "/v1/graphs/caption"])
def test_undecodable_image_is_400(client, path, image):
    assert_problem(client.post(path, json={"image": image}), 400, "invalid_image")


def test_a_bad_image_among_good_ones_fails_alone(client):
    """Concurrent requests share a DALI batch; only the broken one may fail."""
    from concurrent.futures import ThreadPoolExecutor

    images = [PNG, PNG[:40], PNG, PNG]
    with ThreadPoolExecutor(len(images)) as pool:
        responses = list(pool.map(
            lambda image: client.post("/v1/graphs/classify", json={"image": b64(image)}), images))
    assert [r.status_code for r in responses] == [200, 400, 200, 200]


def test_unknown_route_and_wrong_method_are_problem_json(client):
    assert_problem(client.post("/v1/nope", json={}), 404, "not_found")
    assert_problem(client.post("/v1/graphs/nope", json={}), 404, "unknown_graph")
    assert_problem(client.get("/v1/graphs/classify"), 405, "method_not_allowed")
