"""Where benchmarks leave their results (benchmarks/results/<name>.json and <name>.md), and the markdown
tables they and the tests print."""

import json
from collections.abc import Iterable, Sequence

from serve_app.common.settings import REPO_ROOT

RESULTS = REPO_ROOT / "benchmarks" / "results"


def write_results(name: str, data, markdown: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2))
    (RESULTS / f"{name}.md").write_text(markdown)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    """A markdown table: one row per sequence of cells, each cell as `str` writes it (an empty one as `| |`)."""
    def line(cells: Sequence) -> str:
        return "|" + "|".join(f" {text} " if text else " " for text in map(str, cells)) + "|"

    return "\n".join([line(header), "|" + "---|" * len(header), *map(line, rows)])
