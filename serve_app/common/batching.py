"""Dynamic batching for `@serve.batch` methods: knobs set live from a deployment's user_config, and
the retry of a batch that ran out of memory."""

import functools
import logging
from typing import Callable, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from ray.serve.metrics import Counter

from serve_app.common.errors import OutOfMemory, is_oom

T = TypeVar("T")
R = TypeVar("R")

logger = logging.getLogger("ray.serve")


class BatchingConfig(BaseModel):
    """How many requests one batch may hold and how long the first one waits for company."""

    model_config = ConfigDict(extra="forbid")

    max_batch_size: int = Field(default=16, ge=1, le=256)
    batch_wait_timeout_s: float = Field(default=0.002, ge=0.0, le=1.0)


def apply_batching(batched_method, config: BatchingConfig) -> None:
    """Retune a `@serve.batch` method of a live replica (Serve calls `reconfigure` on config change)."""
    batched_method.set_max_batch_size(config.max_batch_size)
    batched_method.set_batch_wait_timeout_s(config.batch_wait_timeout_s)


@functools.cache
def _oom_splits() -> Counter:
    # Made on first use, inside a replica, so Serve tags it with the deployment and replica.
    return Counter("batch_oom_splits", "Batches split in two after running out of memory.")


def split_on_oom(run: Callable[[list[T]], list[R]], items: list[T]) -> list[R]:
    """`run(items)`; while it runs out of memory, runs each half of the batch the same way instead.

    Memory grows with the batch, so a batch that does not fit fails every request in it although
    smaller batches would pass: halving serves them all, only slower. A single item that still does
    not fit raises OutOfMemory. Synchronous, for the thread a deployment runs its model on.
    """
    try:
        return run(items)
    except Exception as error:
        if not is_oom(error):
            raise
        if len(items) <= 1:
            raise OutOfMemory("out of memory even for a batch of one") from error
    # The halves run after the except block: the error's traceback holds the failed call's frames,
    # and with them the memory the halves need.
    logger.warning("Out of memory on a batch of %d; running it in two halves", len(items),
                   extra={"batch_size": len(items)})
    _oom_splits().inc()
    half = len(items) // 2
    return split_on_oom(run, items[:half]) + split_on_oom(run, items[half:])
