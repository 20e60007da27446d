"""The functions a `function` node may name: glue between models and rule-based answers. Pure and quick;
they run on the ingress's event loop."""

from collections.abc import Callable
from typing import Any

from serve_app.common.generation import ChatMessage, GenerationRequest, SamplingOptions
from serve_app.common.images import ImageRequest
from serve_app.common.text_preprocessing import mask_pii


def decode_image(image: str | bytes) -> bytes:
    """base64 PNG/JPEG → bytes, InvalidImage (400) otherwise. Raw bytes (KServe V2 BYTES tensors) pass
    as they are: the preprocessor refuses what it cannot decode."""
    return image if isinstance(image, bytes) else ImageRequest(image=image).image_bytes()


def constant(value: Any) -> Any:
    """A fixed answer: the rule-based fallback of a node."""
    return value


def chat(template: str, max_tokens: int = 48, **values: Any) -> GenerationRequest:
    """A greedy one-turn chat for LLMServer.complete, the user's text filled from `template` (cut to
    fit the context window rather than refused)."""
    return GenerationRequest(messages=[ChatMessage(role="user", content=template.format(**values))],
                             sampling=SamplingOptions(max_tokens=max_tokens, temperature=0.0), truncate_prompt=True)


def item_ids(items: list[dict], k: int = 3) -> str:
    """The first `k` ranked items' ids, as text for a prompt."""
    return ", ".join(str(item["item_id"]) for item in items[:k])


def masked_reviews(reviews: list[str], limit: int = 5) -> str:
    """Up to `limit` review texts, PII masked, one per line."""
    return "\n".join(mask_pii(" ".join(review.split())) for review in reviews[:limit])


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "decode_image": decode_image, "constant": constant, "chat": chat, "item_ids": item_ids,
    "masked_reviews": masked_reviews,
}
