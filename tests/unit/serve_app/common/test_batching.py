"""split_on_oom without Ray: out-of-memory batches are halved until they fit, other errors pass through."""

import logging

import pytest

from serve_app.common.batching import split_on_oom
from serve_app.common.errors import OutOfMemory


class OutOfMemoryError(RuntimeError):
    """Named like torch's CUDA out-of-memory error, which is_oom recognizes by name."""


def fits(limit: int, error: type[Exception] = MemoryError):
    """A fake model call that doubles each item and runs out of memory above `limit` items; `.sizes` records calls."""
    def run(items: list[int]) -> list[int]:
        run.sizes.append(len(items))
        if len(items) > limit:
            raise error(f"batch of {len(items)}")
        return [item * 2 for item in items]
    run.sizes = []
    return run


def test_a_batch_that_fits_runs_once():
    run = fits(8)
    assert split_on_oom(run, list(range(8))) == [item * 2 for item in range(8)]
    assert run.sizes == [8]


def test_an_oom_batch_is_halved_until_it_fits_and_keeps_its_order(caplog):
    run = fits(2)
    with caplog.at_level(logging.WARNING, logger="ray.serve"):
        assert split_on_oom(run, list(range(8))) == [item * 2 for item in range(8)]
    # Depth first: 8 fails, its first half 4 fails and runs as 2 + 2, then the second half the same way.
    assert run.sizes == [8, 4, 2, 2, 4, 2, 2]
    assert [record.batch_size for record in caplog.records] == [8, 4, 4]


def test_an_odd_batch_splits_unevenly_without_losing_items():
    run = fits(1)
    assert split_on_oom(run, list(range(5))) == [item * 2 for item in range(5)]
    assert run.sizes == [5, 2, 1, 1, 3, 1, 2, 1, 1]


def test_torch_style_out_of_memory_error_is_split_too():
    run = fits(2, OutOfMemoryError)
    assert split_on_oom(run, list(range(4))) == [0, 2, 4, 6]
    assert run.sizes == [4, 2, 2]


def test_other_errors_propagate_unchanged_without_a_split():
    run = fits(2, ValueError)
    with pytest.raises(ValueError, match="batch of 8"):
        split_on_oom(run, list(range(8)))
    assert run.sizes == [8]


def test_one_item_out_of_memory_raises_out_of_memory():
    run = fits(0)
    with pytest.raises(OutOfMemory) as raised:
        split_on_oom(run, list(range(2)))
    assert (raised.value.status, raised.value.title) == (503, "out_of_memory")
    assert raised.value.detail == "out of memory even for a batch of one"
    assert isinstance(raised.value.__cause__, MemoryError)
    # The first half failed for good, so the second is never tried.
    assert run.sizes == [2, 1]
