"""The built-in graphs: each passes a DeploymentResponse straight to the next handle."""

from dataclasses import dataclass

from ray.serve.handle import DeploymentHandle


@dataclass(frozen=True)
class ModelHandles:
    """Handles to every model deployment a graph may call."""

    preprocessor: DeploymentHandle
    vision: DeploymentHandle
    features: DeploymentHandle
    ranker: DeploymentHandle
    llm: DeploymentHandle
    embedder: DeploymentHandle


async def classify(models: ModelHandles, image: bytes) -> dict:
    """image → DaliPreprocessor → VisionClassifier."""
    tensor = models.preprocessor.preprocess.remote(image)
    return await models.vision.classify.remote(tensor)


async def recommend(models: ModelHandles, user_id: int, k: int) -> dict:
    """user → FeatureLookup → Ranker."""
    features = models.features.lookup.remote(user_id)
    return {"items": await models.ranker.rank.remote(features, k)}


async def caption(models: ModelHandles, image: bytes) -> dict:
    """image → classify → LLMServer writes a sentence about the label."""
    label = (await classify(models, image))["label"]
    return {"label": label, "caption": await models.llm.caption.remote(label)}
