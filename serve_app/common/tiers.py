"""Service tiers: an API key's, and the job queue's priority for its work."""

from typing import Literal

Tier = Literal["high", "normal", "low"]
TIERS: tuple[Tier, ...] = ("high", "normal", "low")


def capped(requested: Tier, allowed: Tier) -> Tier:
    """The requested tier, never above what the key allows (a client may ask for less, not more)."""
    return max(requested, allowed, key=TIERS.index)
