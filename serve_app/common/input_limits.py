"""What one request may cost: bytes, pixels, nesting, list sizes, tokens. Every input is checked against
these before the work it would cause; the Ingress's user_config (`limits:` in serve_config.yaml) sets
them live, and every process that checks an input reads them through `input_limits()`."""

from pydantic import BaseModel, ConfigDict, Field

from serve_app.common.errors import InvalidRequest

MiB = 1024 * 1024


class BodyLimits(BaseModel):
    """Largest request body in bytes, per route family (as sent, before any Content-Encoding is undone)."""

    model_config = ConfigDict(extra="forbid")

    graphs: int = Field(default=16 * MiB, ge=1)
    llm: int = Field(default=1 * MiB, ge=1)
    v2: int = Field(default=32 * MiB, ge=1)
    jobs: int = Field(default=16 * MiB, ge=1)
    other: int = Field(default=64 * 1024, ge=1)


class InputLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body_bytes: BodyLimits = Field(default_factory=BodyLimits)
    # A compressed body (V2's Content-Encoding) may inflate to at most this, and at most `ratio` times its size.
    decompressed_bytes: int = Field(default=64 * MiB, ge=1)
    decompression_ratio: int = Field(default=100, ge=1)
    # The client's X-Request-Id is echoed and logged: longer or non-printable ones are refused (400).
    request_id_length: int = Field(default=128, ge=8)
    json_depth: int = Field(default=64, ge=2)
    # Width x height read from the image header, before any decoder allocates the pixels.
    image_pixels: int = Field(default=40_000_000, ge=1)
    v2_inputs: int = Field(default=32, ge=1)
    # Characters of user text kept before any pattern runs over it (LLM prompts are cut further, to
    # LLM_INPUT_MAX_LENGTH, after masking).
    text_chars: int = Field(default=16_384, ge=1)
    # OpenAI requests: n x max_tokens, and the stop list.
    completion_tokens: int = Field(default=4096, ge=1)
    stop_sequences: int = Field(default=4, ge=0)
    stop_chars: int = Field(default=64, ge=1)
    # What constrains an LLM's output (a JSON schema, a regex, a list of choices), as JSON: the engine compiles
    # it into a grammar before the first token.
    structured_output_bytes: int = Field(default=64 * 1024, ge=1)


_current = InputLimits()


def input_limits() -> InputLimits:
    """The limits this process applies now."""
    return _current


def valid_request_id(value: str) -> bool:
    """A client's X-Request-Id fit to echo and log: 1 to request_id_length printable ASCII characters."""
    return 0 < len(value) <= _current.request_id_length and value.isascii() and value.isprintable() \
        and " " not in value


def check_request_id(value: str | None) -> None:
    """Raises InvalidRequest (400) for a client's X-Request-Id unfit to echo and log."""
    if value is not None and not valid_request_id(value):
        raise InvalidRequest(f"X-Request-Id must be 1-{_current.request_id_length} printable ASCII characters")


def set_input_limits(limits: InputLimits) -> None:
    global _current
    _current = limits
