"""Pydantic models of the public HTTP contract."""

import base64
import binascii

from pydantic import BaseModel, ConfigDict, Field, field_validator

from serve_app.errors import InvalidImage

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


class ScoredLabel(BaseModel):
    label: str
    score: float


class ClassifyResponse(BaseModel):
    label: str
    score: float
    top_k: list[ScoredLabel]


class RecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: int = Field(ge=0)
    k: int = Field(default=10, ge=1, le=100)

    @field_validator("user_id", mode="before")
    @classmethod
    def _digits_only(cls, value):
        # "42" is a user id a client may well send; "4.2" or true is not.
        if isinstance(value, bool) or isinstance(value, float):
            raise ValueError("user_id must be an integer")
        return value


class ScoredItem(BaseModel):
    item_id: int
    score: float


class RecommendResponse(BaseModel):
    items: list[ScoredItem]


class CaptionResponse(BaseModel):
    label: str
    caption: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    requestId: str | None = None
    errors: list[dict] | None = None
