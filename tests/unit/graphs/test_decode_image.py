"""The graphs' decode_image function: base64 from JSON bodies and raw bytes from V2 BYTES tensors are both
checked from the header, before the preprocessor decodes anything."""

import base64

import pytest

from graphs.functions import decode_image
from serve_app.common.errors import InvalidImage, PayloadTooLarge
from serve_app.common.shapes import shape_png
from tests.unit.image_files import png_header


@pytest.mark.parametrize("wrap", [lambda data: data, lambda data: base64.b64encode(data).decode()])
def test_too_many_pixels_are_413_whether_raw_or_base64(wrap):
    with pytest.raises(PayloadTooLarge, match="image has 8000×6000 pixels"):
        decode_image(wrap(png_header(8_000, 6_000)))


@pytest.mark.parametrize("wrap", [lambda data: data, lambda data: base64.b64encode(data).decode()])
def test_a_normal_image_comes_back_as_bytes(wrap):
    png = shape_png("square", 3)
    assert decode_image(wrap(png)) == png


def test_raw_bytes_that_are_no_image_are_400():
    with pytest.raises(InvalidImage, match="could not be decoded"):
        decode_image(b"not an image")
