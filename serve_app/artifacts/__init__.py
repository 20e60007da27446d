"""Builds the project's own small, real models and data (SPEC §2) into one git-ignored folder."""

from pathlib import Path

from pydantic import BaseModel


class ArtifactLayout(BaseModel):
    """Where each built artifact lives below the artifacts folder."""

    root: Path

    @property
    def vision(self) -> Path:
        return self.root / "vision"

    @property
    def llm(self) -> Path:
        return self.root / "llm"

    @property
    def ranker(self) -> Path:
        return self.root / "ranker"

    @property
    def feature_repo(self) -> Path:
        return self.root / "feature_repo"
