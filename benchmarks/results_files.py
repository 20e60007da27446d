"""Where benchmarks leave their results: benchmarks/results/<name>.json and <name>.md."""

import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def write_results(name: str, data, markdown: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2))
    (RESULTS / f"{name}.md").write_text(markdown)
