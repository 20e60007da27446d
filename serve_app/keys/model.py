"""An API key is `sfk_<id>_<secret>`: the id (8 hex) finds the record and is safe to log; only the SHA-256
of the whole key is stored. The secret is 256 random bits, so a fast hash is enough (a slow password
hash guards low-entropy secrets, which these are not)."""

import hashlib
import hmac
import re
import secrets
import time
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from serve_app.common.tiers import Tier

Scope = Literal["graphs", "llm", "v2", "jobs", "admin"]
SCOPES: tuple[str, ...] = get_args(Scope)
_KEY = re.compile(r"sfk_([0-9a-f]{8})_([A-Za-z0-9_-]{43})")


class ApiKey(BaseModel):
    """One key's record: what it may do, for whom; never the key itself."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[0-9a-f]{8}$")
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    tenant: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    tier: Tier = "normal"
    scopes: frozenset[Scope]
    created_at: float = Field(default_factory=time.time)
    revoked_at: float | None = None

    def matches(self, presented: str) -> bool:
        """Whether `presented` is this key, compared in constant time."""
        return self.revoked_at is None and hmac.compare_digest(_digest(presented), self.digest)

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(tenant: str, tier: Tier = "normal", scopes: frozenset[str] = frozenset(SCOPES)) -> tuple[str, ApiKey]:
    """A fresh key and its record; the key is shown once and never stored."""
    key = f"sfk_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"
    return key, key_record(key, tenant, tier, scopes)


def key_record(key: str, tenant: str, tier: Tier = "normal", scopes: frozenset[str] = frozenset(SCOPES)) -> ApiKey:
    """The record of a well-formed key (one made here, or provisioned elsewhere, such as a Secret's)."""
    key_id = split_key(key)
    if key_id is None:
        raise ValueError("not a well-formed API key")
    return ApiKey(id=key_id, digest=_digest(key), tenant=tenant, tier=tier, scopes=scopes)


def split_key(presented: str) -> str | None:
    """The key id of a well-formed key, else None (nothing is looked up for a malformed one)."""
    match = _KEY.fullmatch(presented)
    return match[1] if match else None
