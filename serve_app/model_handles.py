"""Handles to the platform's model deployments, for the routes that call one model directly (the LLM
APIs, KServe V2 single models) and for readiness; graphs reach deployments by name instead."""

from dataclasses import dataclass

from ray.serve.handle import DeploymentHandle


@dataclass(frozen=True)
class ModelHandles:
    """Handles to every model deployment of the app."""

    preprocessor: DeploymentHandle
    vision: DeploymentHandle
    features: DeploymentHandle
    ranker: DeploymentHandle
    llm: DeploymentHandle
    embedder: DeploymentHandle
