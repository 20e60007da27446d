"""CLI: `python -m serve_app.artifacts [--dir DIR] [--force]` builds whatever is missing or stale.

Each artifact records a fingerprint of the code that built it; a second run with unchanged code
is a no-op.
"""

import argparse
import hashlib
import json
import logging
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from serve_app.artifacts import ArtifactLayout, llm, recsys, vision
from serve_app.common.settings import PlatformSettings

logger = logging.getLogger("serve_app.artifacts")
_PACKAGE = Path(__file__).parent
_COMMON = _PACKAGE.parent / "common"


def _fingerprint(*sources: Path) -> str:
    """A hash of the files (or folders) whose code decides what an artifact contains."""
    files = sorted(f for source in sources
                   for f in ([source] if source.is_file() else source.rglob("*"))
                   if f.is_file() and "__pycache__" not in f.parts)
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]


def _targets(layout: ArtifactLayout) -> dict[str, tuple[list[Path], Callable[[tqdm], dict], str]]:
    """name → (folders it writes, how to build it, fingerprint of its code)."""
    shapes = _COMMON / "shapes.py"
    return {
        "vision": ([layout.vision], lambda bar: vision.build(layout.vision, bar),
                   _fingerprint(_PACKAGE / "vision.py", shapes)),
        "llm": ([layout.llm], lambda bar: llm.build(layout.llm, bar),
                _fingerprint(_PACKAGE / "llm.py", _PACKAGE / "task_data.py", _PACKAGE / "llm_quality.py", shapes,
                             _COMMON / "generation.py", _COMMON / "llm_tasks.py", _COMMON / "hangul.py")),
        "recsys": ([layout.ranker, layout.feature_repo],
                   lambda bar: recsys.build(layout.ranker, layout.feature_repo, bar),
                   _fingerprint(_PACKAGE / "recsys.py", _PACKAGE / "materialize.py", _PACKAGE / "feature_repo",
                                _COMMON / "recsys_features.py", _COMMON / "feature_store.py")),
    }


def build_all(root: Path, force: bool = False) -> dict[str, dict]:
    """Build every stale artifact under `root`; returns each artifact's manifest."""
    layout = ArtifactLayout(root=root)
    manifests: dict[str, dict] = {}
    targets = _targets(layout)
    with tqdm(total=len(targets), desc="artifacts", unit="artifact", file=sys.stderr) as bar:
        for name, (folders, build, code) in targets.items():
            manifest_path = root / f"{name}.manifest.json"
            if not force and manifest_path.exists():
                manifest = json.loads(manifest_path.read_text())
                if manifest.get("code") == code and all(folder.exists() for folder in folders):
                    manifests[name] = manifest
                    bar.update()
                    continue
            for folder in folders:
                shutil.rmtree(folder, ignore_errors=True)
            bar.set_description(f"building {name}")
            started = time.perf_counter()
            facts = build(bar)
            manifest = {"code": code, "seconds": round(time.perf_counter() - started, 1), **facts}
            manifest_path.write_text(json.dumps(manifest, indent=2))
            manifests[name] = manifest
            bar.update()
    return manifests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=PlatformSettings().artifacts_dir)
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.dir.mkdir(parents=True, exist_ok=True)
    for name, manifest in build_all(args.dir, args.force).items():
        logger.info("%s: %s", name, json.dumps(manifest))


if __name__ == "__main__":
    main()
