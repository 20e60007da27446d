"""Application builder named in serve_config.yaml (`import_path: serve_app.app:build_app`)."""

from pathlib import Path

import yaml
from pydantic import BaseModel, Field
from ray.serve import Application

from deployments.backends import BackendConfig
from deployments.dali_preprocessor import DaliPreprocessor
from deployments.embedder import EMBEDDING_MODEL_ID, Embedder
from deployments.fault_injector import FaultInjector
from deployments.feature_lookup import FeatureLookup
from deployments.llm_server import LLMServer
from deployments.ranker import Ranker
from deployments.vision_classifier import VisionClassifier
from serve_app.model_handles import ModelHandles
from graphs.registry import check_graphs, graph_deployments
from graphs.spec import GraphSpec
from serve_app.artifacts import ArtifactLayout
from serve_app.ingress import Ingress
from serve_app.settings import REPO_ROOT, OnlineStore, PlatformSettings


class PlatformArgs(BaseModel):
    """Builder arguments: where the models are, which Feast online store serves, how the LLM engine
    runs, and which backend runs the vision model."""

    artifacts_dir: Path = Field(default_factory=lambda: PlatformSettings().artifacts_dir)
    online_store: OnlineStore = Field(default_factory=lambda: PlatformSettings().online_store)
    llm_engine_args: dict = Field(default_factory=dict)
    # The id clients name in OpenAI requests; GET /v1/models lists it.
    llm_model_id: str = "tiny-llama"
    vision_backend: BackendConfig = Field(default_factory=BackendConfig)
    # Declared graphs, served at POST /v1/graphs/{name}: adding one is an edit of serve_config.yaml.
    graphs: dict[str, GraphSpec] = Field(default_factory=dict)
    # Test configs only: FaultInjector deployments (deployments/fault_injector.py) by name, with their faults.
    fault_injectors: dict[str, dict] = Field(default_factory=dict)


def serve_config_args(path: Path = REPO_ROOT / "serve_config.yaml") -> PlatformArgs:
    """The builder args of a Serve config file's first application, checked as a deploy would."""
    return PlatformArgs.model_validate(yaml.safe_load(path.read_text())["applications"][0].get("args") or {})


def build_app(args: PlatformArgs) -> Application:
    """Bind every model deployment and hand their handles to the HTTP ingress."""
    layout = ArtifactLayout(root=args.artifacts_dir)
    models = ModelHandles(
        preprocessor=DaliPreprocessor.bind(str(layout.vision)),
        vision=VisionClassifier.bind(str(layout.vision), backend=args.vision_backend.model_dump()),
        features=FeatureLookup.bind(str(layout.feature_repo), args.online_store),
        ranker=Ranker.bind(str(layout.ranker)),
        llm=LLMServer.bind(str(layout.llm), args.llm_engine_args, args.llm_model_id),
        embedder=Embedder.bind(),
    )
    deployments = [(DaliPreprocessor, models.preprocessor), (VisionClassifier, models.vision),
                   (FeatureLookup, models.features), (Ranker, models.ranker), (LLMServer, models.llm),
                   (Embedder, models.embedder)]
    deployments += [(FaultInjector.options(name=name), FaultInjector.options(name=name).bind(**faults))
                    for name, faults in args.fault_injectors.items()]
    check_graphs(args.graphs, {deployment.name: deployment.func_or_class for deployment, _ in deployments})
    bound = graph_deployments(args.graphs, {deployment.name: app for deployment, app in deployments})
    return Ingress.bind(models, args.llm_model_id, EMBEDDING_MODEL_ID, bound, args.graphs)
