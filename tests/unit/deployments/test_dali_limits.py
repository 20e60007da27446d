"""DaliPreprocessor checks an image's header itself, whatever its caller did: too many pixels never reach
DALI, which would allocate them all. Called directly without Ray, on DALI's CPU build."""

import asyncio
import json
import time

import pytest

from deployments.dali_preprocessor import DaliPreprocessor
from serve_app.common.errors import InvalidImage, PayloadTooLarge
from serve_app.common.shapes import IMAGE_SIZE, shape_png
from tests.unit.image_files import png_header


@pytest.fixture(scope="module")
def preprocessor(tmp_path_factory) -> DaliPreprocessor:
    # Only model.json is read; the vision artifact is not needed.
    model_dir = tmp_path_factory.mktemp("vision")
    (model_dir / "model.json").write_text(json.dumps({"size": IMAGE_SIZE, "mean": [0.5] * 3, "std": [0.25] * 3}))
    return DaliPreprocessor.func_or_class(str(model_dir))


def test_too_many_pixels_are_refused_before_dali(preprocessor):
    started = time.perf_counter()
    # A header-only PNG: had DALI seen it, the answer would be InvalidImage (no pixel data), not a 413.
    with pytest.raises(PayloadTooLarge, match="image has 8000×6000 pixels"):
        asyncio.run(preprocessor.preprocess(png_header(8_000, 6_000)))
    assert time.perf_counter() - started < 0.1


def test_no_image_is_refused_before_dali(preprocessor):
    with pytest.raises(InvalidImage, match="could not be decoded"):
        asyncio.run(preprocessor.preprocess(b"not an image"))


def test_a_normal_image_goes_on_to_dali(preprocessor, monkeypatch):
    async def one_image_batch(image):  # serve.batch needs a replica; the check before it does not
        (result,) = preprocessor._decode_each([image])
        return result
    monkeypatch.setattr(preprocessor, "_preprocess_batch", one_image_batch)
    tensor = asyncio.run(preprocessor.preprocess(shape_png("circle", 5)))
    assert tensor.shape == (3, IMAGE_SIZE, IMAGE_SIZE)
