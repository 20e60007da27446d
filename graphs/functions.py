"""The functions a `function` node may name: glue between models and rule-based answers. Pure and quick;
they run on the ingress's event loop."""

from collections.abc import Callable
from typing import Any

from serve_app.common.generation import ChatMessage, GenerationRequest, SamplingOptions
from serve_app.common.images import ImageRequest, check_image
from serve_app.common.text_preprocessing import preprocess_text


def decode_image(image: str | bytes) -> bytes:
    """base64 PNG/JPEG (or raw bytes, from a KServe V2 BYTES tensor) → bytes; InvalidImage (400) for what is
    not a PNG/JPEG, PayloadTooLarge (413) for more pixels than the limit, both before any decoder runs."""
    if not isinstance(image, bytes):
        return ImageRequest(image=image).image_bytes()
    check_image(image)
    return image


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


def masked_reviews(reviews: list[str], limit: int = 5, max_chars: int = 4096) -> str:
    """Up to `limit` review texts, PII masked and each cut to `max_chars`, one per line: the masking runs on
    the event loop, so its cost is bounded whatever the graph's input declares."""
    return "\n".join(preprocess_text(review, max_chars) for review in reviews[:limit])


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "decode_image": decode_image, "constant": constant, "chat": chat, "item_ids": item_ids,
    "masked_reviews": masked_reviews,
}
