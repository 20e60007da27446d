"""The guard's live knobs (the Ingress's user_config `security:` in serve_config.yaml)."""

from pydantic import BaseModel, ConfigDict, Field

from serve_app.common.input_limits import InputLimits
from serve_app.security.rate_limits import RateLimitConfig


class SecurityConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate_limits: RateLimitConfig = Field(default_factory=RateLimitConfig)
    limits: InputLimits = Field(default_factory=InputLimits)
    # The whole body must arrive within this; a trickling client is answered 408 and let go.
    body_timeout_s: float = Field(default=10.0, gt=0)
    # Sum of the request's header names and values.
    header_bytes: int = Field(default=16 * 1024, ge=1024)
    # How often a replica re-reads the key store: a revoked key stops working within this.
    key_refresh_s: float = Field(default=2.0, gt=0)
