"""Dynamic-batching knobs for `@serve.batch` methods, set live from a deployment's user_config."""

from pydantic import BaseModel, ConfigDict, Field


class BatchingConfig(BaseModel):
    """How many requests one batch may hold and how long the first one waits for company."""

    model_config = ConfigDict(extra="forbid")

    max_batch_size: int = Field(default=16, ge=1, le=256)
    batch_wait_timeout_s: float = Field(default=0.002, ge=0.0, le=1.0)


def apply_batching(batched_method, config: BatchingConfig) -> None:
    """Retune a `@serve.batch` method of a live replica (Serve calls `reconfigure` on config change)."""
    batched_method.set_max_batch_size(config.max_batch_size)
    batched_method.set_batch_wait_timeout_s(config.batch_wait_timeout_s)
