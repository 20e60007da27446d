"""An image's pixels are counted from its header before anything decodes it; a bad header or bad base64
is a 400, too many pixels a 413, never a 500."""

import base64
import io
import random
import time
import tracemalloc

import pytest
from PIL import Image

from serve_app.common import input_limits as limits_module
from serve_app.common.errors import InvalidImage, PayloadTooLarge
from serve_app.common.images import ImageRequest, check_image
from serve_app.common.input_limits import InputLimits
from serve_app.common.shapes import shape_png
from tests.unit.image_files import png_header

NOISE = random.Random(0).randbytes
# PIL warns (once) past its own 89M-pixel mark, below which our limit sits by default.
pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")


@pytest.fixture(scope="module")
def huge_png() -> bytes:
    """A real 12,000 x 12,000 PNG: 144M pixels in about 18 KB (1-bit, all black)."""
    buffer = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(buffer, "PNG")
    return buffer.getvalue()


def _jpeg(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_a_huge_png_is_refused_from_its_header_alone(huge_png):
    tracemalloc.start()
    started = time.process_time()  # CPU time: a starved machine must not fail this
    with pytest.raises(PayloadTooLarge, match="image has 12000×12000 pixels, the limit is 40000000"):
        check_image(huge_png)
    elapsed, (_, peak) = time.process_time() - started, tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Decoding would allocate 144 MB (18 MB at 1 bit per pixel); the header costs next to nothing.
    assert elapsed < 0.1 and peak < 1024 * 1024
    with pytest.raises(PayloadTooLarge):
        ImageRequest(image=base64.b64encode(huge_png).decode()).image_bytes()


def test_normal_images_pass():
    png, jpeg = shape_png("circle", 0), _jpeg((64, 48))
    check_image(png)
    check_image(jpeg)
    assert ImageRequest(image=base64.b64encode(jpeg).decode()).image_bytes() == jpeg
    check_image(png_header(8000, 5000))  # exactly the default 40M pixels


def test_the_limit_is_read_live(monkeypatch):
    monkeypatch.setattr(limits_module, "_current", InputLimits(image_pixels=64 * 48 - 1))
    with pytest.raises(PayloadTooLarge, match="image has 64×48 pixels, the limit is 3071"):
        check_image(_jpeg((64, 48)))


def test_past_pils_own_bomb_ceiling_is_413_too():
    # 400M pixels: PIL refuses to open it at all (DecompressionBombError), before our count.
    with pytest.raises(PayloadTooLarge, match="image is too large"):
        check_image(png_header(20_000, 20_000))


@pytest.mark.parametrize("data", [
    b"GIF89a not a png or jpeg",
    b"",
    b"\x89PNG\r\n\x1a\n" + b"garbage" * 10,
    png_header(10, 10)[:20],  # cut inside IHDR
    b"\x89PNG\r\n\x1a\n" + NOISE(4096),
    b"\xff\xd8\xff" + b"\x00" * 64,
    b"\xff\xd8\xff\xe0" + b"\xff" * 64,
])
def test_unreadable_headers_are_invalid_images(data):
    with pytest.raises(InvalidImage, match="could not be decoded"):
        check_image(data)


@pytest.mark.parametrize("text", [
    "@@@",
    "ïmage",  # not ASCII: b64decode raises ValueError, not binascii.Error
    base64.b64encode(shape_png("star", 1)).decode()[:-1],  # padding cut
    "data:image/png;base64," + base64.b64encode(shape_png("star", 1)).decode(),
    base64.encodebytes(shape_png("star", 1)).decode(),  # newlines inside
])
def test_bad_base64_is_an_invalid_image(text):
    with pytest.raises(InvalidImage, match="not valid base64"):
        ImageRequest(image=text).image_bytes()


def test_a_large_body_of_noise_is_a_quick_400():
    # What the graphs' 16 MiB body limit lets through: 12 MB of base64, not an image.
    text = base64.b64encode(b"\x89PNG\r\n\x1a\n" + NOISE(9 * 1024 * 1024)).decode()
    started = time.process_time()
    with pytest.raises(InvalidImage):
        ImageRequest(image=text).image_bytes()
    assert time.process_time() - started < 1
