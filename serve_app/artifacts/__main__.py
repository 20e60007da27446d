"""CLI: `python -m serve_app.artifacts [--dir DIR] [--config FILE] [--force]` builds whatever is missing or stale:
the project's own models and data, and every pretrained model the Serve config names a `source` for.

Each artifact records a fingerprint of the code (and source) that built it; a second run with nothing changed
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

import yaml
from tqdm import tqdm

from serve_app.artifacts import ArtifactLayout, imported_llm, llm, recsys, vision
from serve_app.common.settings import ARTIFACTS_REF, REPO_ROOT, PlatformSettings

logger = logging.getLogger("serve_app.artifacts")
_PACKAGE = Path(__file__).parent
_COMMON = _PACKAGE.parent / "common"
SERVE_CONFIG = REPO_ROOT / "serve_config.yaml"


def _fingerprint(*sources: Path, extra: str = "") -> str:
    """A hash of the files (or folders) whose code decides what an artifact contains, and of `extra`."""
    files = sorted(f for source in sources
                   for f in ([source] if source.is_file() else source.rglob("*"))
                   if f.is_file() and "__pycache__" not in f.parts)
    return hashlib.sha256(b"".join(f.read_bytes() for f in files) + extra.encode()).hexdigest()[:16]


def imported_models(config: Path, root: Path) -> dict[str, tuple[str, Path]]:
    """Model name → (source, folder) for each model of the Serve config that names a `source`: its weights are
    imported into its `init_args.model_dir`, which must lie in the artifacts folder."""
    models = ((yaml.safe_load(config.read_text())["applications"][0].get("args") or {}).get("models") or {})
    imports = {}
    for name, model in models.items():
        if source := model.get("source"):
            folder = str((model.get("init_args") or {}).get("model_dir", ""))
            if not folder.startswith(ARTIFACTS_REF):
                raise ValueError(f"model {name!r} has a source, so its init_args.model_dir must be {ARTIFACTS_REF}...")
            imports[name] = (source, root / folder.removeprefix(ARTIFACTS_REF))
    return imports


def _targets(layout: ArtifactLayout, config: Path) -> dict[str, tuple[list[Path], Callable[[tqdm], dict], str]]:
    """name → (folders it writes, how to build it, fingerprint of its code)."""
    shapes = _COMMON / "shapes.py"
    imports = {
        f"import-{name}": ([folder], lambda bar, source=source, folder=folder: imported_llm.build(source, folder, bar),
                           _fingerprint(_PACKAGE / "imported_llm.py", extra=source))
        for name, (source, folder) in imported_models(config, layout.root).items()}
    return {
        "vision": ([layout.vision], lambda bar: vision.build(layout.vision, bar),
                   _fingerprint(_PACKAGE / "vision.py", shapes)),
        "llm": ([layout.llm], lambda bar: llm.build(layout.llm, bar),
                _fingerprint(_PACKAGE / "llm.py", _PACKAGE / "task_data.py", _PACKAGE / "llm_quality.py", shapes,
                             _COMMON / "generation.py", _COMMON / "llm_tasks.py", _COMMON / "hangul.py")),
        "recsys": ([layout.ranker, layout.feature_repo],
                   lambda bar: recsys.build(layout.ranker, layout.feature_repo, bar),
                   # Feast's registry records its data's absolute paths: a repo moved is a repo built again.
                   _fingerprint(_PACKAGE / "recsys.py", _PACKAGE / "materialize.py", _PACKAGE / "feature_repo",
                                _COMMON / "recsys_features.py", _COMMON / "feature_store.py",
                                extra=str(layout.feature_repo.resolve()))),
        **imports,
    }


def build_all(root: Path, force: bool = False, config: Path = SERVE_CONFIG) -> dict[str, dict]:
    """Build every stale artifact under `root`; returns each artifact's manifest."""
    layout = ArtifactLayout(root=root)
    manifests: dict[str, dict] = {}
    targets = _targets(layout, config)
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
    parser.add_argument("--config", type=Path, default=SERVE_CONFIG, help="the Serve config naming model sources")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.dir.mkdir(parents=True, exist_ok=True)
    for name, manifest in build_all(args.dir, args.force, args.config).items():
        logger.info("%s: %s", name, json.dumps(manifest))


if __name__ == "__main__":
    main()
