"""One recsys artifact per session, and its FeatureLookup (SQLite) and Ranker without Ray; the Embedder on each of
its bundled models."""

import pytest
from tqdm import tqdm

from deployments.embedder import Embedder
from deployments.feature_lookup import FeatureLookup
from deployments.ranker import Ranker
from serve_app.artifacts import ArtifactLayout, recsys


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> tuple[ArtifactLayout, dict]:
    """The recsys artifact's layout and its held-out metrics."""
    layout = ArtifactLayout(root=tmp_path_factory.mktemp("artifacts"))
    with tqdm(disable=True) as progress:
        return layout, recsys.build(layout.ranker, layout.feature_repo, progress)


@pytest.fixture(scope="session")
def lookup(built) -> FeatureLookup:
    return FeatureLookup.func_or_class(str(built[0].feature_repo))


@pytest.fixture(scope="session")
def ranker(built) -> Ranker:
    return Ranker.func_or_class(str(built[0].ranker))


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The Embedder as served: use-multilingual-v3."""
    return Embedder.func_or_class()


@pytest.fixture(scope="session")
def minilm() -> Embedder:
    return Embedder.func_or_class(model="all-minilm-l6-v2")
