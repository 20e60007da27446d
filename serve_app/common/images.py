"""The image a request carries: base64 of a PNG or JPEG file in JSON, raw bytes in a V2 BYTES tensor."""

import base64
import binascii

from pydantic import BaseModel, ConfigDict, Field

from serve_app.common.errors import InvalidImage

_IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")


class ImageRequest(BaseModel):
    """An encoded PNG or JPEG image, base64 in JSON."""

    model_config = ConfigDict(extra="forbid")

    image: str = Field(min_length=1, description="base64 of a PNG or JPEG file")

    def image_bytes(self) -> bytes:
        """The decoded image; raises InvalidImage for bad base64 or a format other than PNG/JPEG."""
        try:
            data = base64.b64decode(self.image, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidImage("image is not valid base64") from None
        if not data.startswith(_IMAGE_SIGNATURES):
            raise InvalidImage("image is neither PNG nor JPEG")
        return data
