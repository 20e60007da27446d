"""Request validation before any model runs."""

import base64

import pytest
from pydantic import ValidationError

from serve_app.artifacts.shapes import shape_png
from serve_app.errors import InvalidImage
from serve_app.schemas import ImageRequest, RecommendRequest


def test_image_bytes_round_trip():
    png = shape_png("circle", 0)
    assert ImageRequest(image=base64.b64encode(png).decode()).image_bytes() == png


@pytest.mark.parametrize("image", ["@@@", base64.b64encode(b"plain text").decode()])
def test_bad_images_raise_invalid_image(image):
    with pytest.raises(InvalidImage):
        ImageRequest(image=image).image_bytes()


@pytest.mark.parametrize("payload", [{"user_id": True}, {"user_id": 1.0}, {"user_id": -1}, {"user_id": 1, "k": 0}])
def test_recommend_rejects(payload):
    with pytest.raises(ValidationError):
        RecommendRequest(**payload)


def test_recommend_accepts_numeric_string_and_defaults_k():
    request = RecommendRequest(user_id="42")
    assert (request.user_id, request.k) == (42, 10)
