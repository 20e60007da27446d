"""Request validation before any model runs."""

import base64

import pytest

from serve_app.common.shapes import shape_png
from serve_app.common.errors import InvalidImage
from serve_app.common.images import ImageRequest


def test_image_bytes_round_trip():
    png = shape_png("circle", 0)
    assert ImageRequest(image=base64.b64encode(png).decode()).image_bytes() == png


@pytest.mark.parametrize("image", ["@@@", base64.b64encode(b"plain text").decode()])
def test_bad_images_raise_invalid_image(image):
    with pytest.raises(InvalidImage):
        ImageRequest(image=image).image_bytes()
