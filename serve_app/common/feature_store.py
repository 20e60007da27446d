"""Opens the recommender's Feast repo with the chosen online store: SQLite (embedded) or Redis."""

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from feast import FeatureStore

from serve_app.common.settings import OnlineStore, PlatformSettings

REDIS_CONFIG = "feature_store.redis.yaml"
# feature_store.redis.yaml names this variable; Feast expands environment variables in its yaml.
REDIS_CONNECTION_VAR = "FEAST_REDIS_CONNECTION"


def feast_redis_connection(url: str) -> str:
    """A redis:// URL in Feast's own connection-string form, `host:port,db=N[,password=...]`."""
    parts = urlsplit(url)
    options = {"db": parts.path.lstrip("/") or "0", "ssl": "true" if parts.scheme == "rediss" else None,
               "username": parts.username and unquote(parts.username),
               "password": parts.password and unquote(parts.password)}
    return ",".join([f"{parts.hostname}:{parts.port or 6379}",
                     *(f"{key}={value}" for key, value in options.items() if value)])


def open_store(repo_path: str | Path, online_store: OnlineStore) -> FeatureStore:
    """The repo's FeatureStore; Redis is found at PLATFORM_REDIS_URL, its one home."""
    if online_store == "sqlite":
        return FeatureStore(repo_path=str(repo_path))
    os.environ[REDIS_CONNECTION_VAR] = feast_redis_connection(PlatformSettings().redis_url)
    return FeatureStore(repo_path=str(repo_path), fs_yaml_file=Path(repo_path) / REDIS_CONFIG)
