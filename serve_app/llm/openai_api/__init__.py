"""OpenAI-compatible API: routes (router.py), request/response models (protocol.py), formatting (serving.py)."""
