"""The image a request carries: base64 of a PNG or JPEG file in JSON, raw bytes in a V2 BYTES tensor."""

import base64
import binascii
import io

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from serve_app.common.errors import InvalidImage, PayloadTooLarge
from serve_app.common.input_limits import input_limits

_IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")


def check_image(data: bytes) -> None:
    """Raises InvalidImage unless `data` is a PNG or JPEG with a readable header, and PayloadTooLarge when the
    header declares more pixels than the limit. Only the header is read: a small file that declares a huge
    image is refused before any decoder allocates its pixels."""
    if not data.startswith(_IMAGE_SIGNATURES):
        raise InvalidImage("the image could not be decoded: it is neither PNG nor JPEG")
    try:
        # Image.open is lazy: it parses the header and decodes no pixels.
        with Image.open(io.BytesIO(data), formats=("PNG", "JPEG")) as image:
            width, height = image.size
    except Image.DecompressionBombError as error:  # PIL's own ceiling, above ours unless the limit was raised
        raise PayloadTooLarge(f"image is too large: {error}") from None
    except Exception:  # PIL's header parsers raise many types (OSError, SyntaxError, struct.error, ...)
        raise InvalidImage("the image could not be decoded: its header is unreadable") from None
    limit = input_limits().image_pixels
    if width * height > limit:
        raise PayloadTooLarge(f"image has {width}×{height} pixels, the limit is {limit}")


class ImageRequest(BaseModel):
    """An encoded PNG or JPEG image, base64 in JSON."""

    model_config = ConfigDict(extra="forbid")

    image: str = Field(min_length=1, description="base64 of a PNG or JPEG file")

    def image_bytes(self) -> bytes:
        """The decoded image; InvalidImage for bad base64 or anything but a PNG/JPEG, PayloadTooLarge for
        more pixels than the limit."""
        try:
            data = base64.b64decode(self.image, validate=True)
        except (binascii.Error, ValueError):  # ValueError: non-ASCII text
            raise InvalidImage("image is not valid base64") from None
        check_image(data)
        return data
