"""CLI: `python -m serve_app.artifacts.materialize [--online-store sqlite|redis] [--all]` loads into the online
store every feature row newer than its last materialization, up to now (Feast `materialize_incremental`).

A store never materialized before gets the whole snapshot (Feast starts that run a year back, and the
builder stamps rows with the build time); a second run with no new rows writes nothing.
"""

import argparse
import importlib.util
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import get_args

from feast import Entity, FeatureStore, FeatureView

from serve_app.artifacts import ArtifactLayout
from serve_app.common.feature_store import open_store
from serve_app.common.settings import OnlineStore, PlatformSettings

logger = logging.getLogger("serve_app.artifacts")
# How far back `--all` reaches: before any row the builder stamps.
EVERYTHING_DAYS = 3650


def apply_definitions(store: FeatureStore) -> None:
    """`feast apply` of the repo's features.py; unchanged definitions keep their materialized intervals."""
    # Loaded from the repo itself, so the registered sources point at the repo's own data folder.
    spec = importlib.util.spec_from_file_location("serving_foundation_features",
                                                  store.repo_path / "features.py")
    definitions = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(definitions)
    store.apply([o for o in vars(definitions).values() if isinstance(o, (Entity, FeatureView))])


def materialize(repo: Path, online_store: OnlineStore, everything: bool = False) -> None:
    """Register the definitions with the store's registry, then load what is new since the last run (or every
    row: a new online store, such as a new cluster's Redis, whatever the registry recorded of another)."""
    store = open_store(repo, online_store)
    apply_definitions(store)
    now = datetime.now(timezone.utc)
    if everything:
        store.materialize(start_date=now - timedelta(days=EVERYTHING_DAYS), end_date=now)
    else:
        store.materialize_incremental(end_date=now)


def main() -> None:
    settings = PlatformSettings()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=settings.artifacts_dir, help="artifacts folder")
    parser.add_argument("--online-store", choices=get_args(OnlineStore), default=settings.online_store)
    parser.add_argument("--all", action="store_true", help="every row, not only those newer than the last run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # Feast logs every registry cache refresh at INFO; its own progress lines are printed anyway.
    logging.getLogger("feast").setLevel(logging.WARNING)
    repo = ArtifactLayout(root=args.dir).feature_repo
    materialize(repo, args.online_store, everything=args.all)
    logger.info("materialized %s into the %s online store", repo, args.online_store)


if __name__ == "__main__":
    main()
