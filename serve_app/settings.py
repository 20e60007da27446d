"""Process settings from environment variables; per-environment knobs live in serve_config.yaml."""

from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]
OnlineStore = Literal["sqlite", "redis"]


class PlatformSettings(BaseSettings):
    """Where artifacts live and how the platform reaches its services."""

    model_config = SettingsConfigDict(env_prefix="PLATFORM_")

    artifacts_dir: Path = REPO_ROOT / ".data" / "artifacts"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # The Feast online store FeatureLookup reads and `make materialize` fills.
    online_store: OnlineStore = "sqlite"
