"""Process settings from environment variables; per-environment knobs live in serve_config.yaml."""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_NAME = "platform"  # the application's name in serve_config.yaml
# A string in serve_config.yaml's model arguments that starts so is a path below the artifacts folder.
ARTIFACTS_REF = "$artifacts/"
OnlineStore = Literal["sqlite", "redis"]


class PlatformSettings(BaseSettings):
    """Where artifacts live and how the platform reaches its services."""

    model_config = SettingsConfigDict(env_prefix="PLATFORM_")

    artifacts_dir: Path = REPO_ROOT / ".data" / "artifacts"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # The Feast online store FeatureLookup reads and `make materialize` fills.
    online_store: OnlineStore = "sqlite"
    # Browser origins allowed to call the HTTP API (S1 §1: CORS for web front ends); none by default.
    cors_origins: list[str] = []
    # API keys (serve_app/keys): `off` serves every route to anyone (warned about at start-up).
    auth: Literal["on", "off"] = "on"
    # Where key records live: `file` (one machine) or `redis` (a fleet, at redis_url).
    key_store: Literal["file", "redis"] = "file"
    keys_file: Path = REPO_ROOT / ".data" / "api-keys.json"
    # The admin key `make run` creates on first set-up, readable by its owner only.
    admin_key_file: Path = REPO_ROOT / ".data" / "api-key"
    # How long a drain (SIGTERM to `make run`, serve_app/ops/drain.py) waits for requests and jobs in flight:
    # longer than the longest a request may take (INFERENCE_TIMEOUT_SEC 60 s, review_analysis 45 s).
    drain_timeout_s: float = Field(default=65, gt=0)


class LLMSettings(BaseSettings):
    """S1's LLM limits, read from environment variables of the same names (S1 §5). A deployment's
    user_config may override any of them live: init arguments win over the environment."""

    max_concurrent_inference: int = Field(default=64, ge=1)
    inference_timeout_sec: float = Field(default=60.0, gt=0)
    llm_input_max_length: int = Field(default=2048, ge=1)
    # When set, a failed generation answers 200 with this text instead of an error (S1 §4).
    llm_fallback_response: str | None = None
    # A request counts toward goodput when its first token came within this SLA [S2].
    llm_ttft_sla_sec: float = Field(default=2.0, gt=0)
