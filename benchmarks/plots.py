"""The PNG charts the benchmarks write: panels side by side over the number of concurrent clients."""

import contextlib
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def concurrency_figure(path: Path, *titles: str) -> Iterator[list]:
    """Yields one matplotlib axis per title, side by side, to plot against concurrency; then gives each a log2
    x axis, its title and a legend, and saves the figure to `path`."""
    import matplotlib

    matplotlib.use("Agg")  # no display on the machines benchmarks run on
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(1, len(titles), figsize=(11, 4), squeeze=False)
    yield list(axes[0])
    for axis, title in zip(axes[0], titles):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("concurrent clients")
        axis.set_title(title)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
