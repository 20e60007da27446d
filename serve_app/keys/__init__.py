"""API keys: each a tenant, a tier and scopes, stored only as a hash (`model.py`), in a file or in Redis
(`store.py`); `python -m serve_app.keys` creates, lists and revokes them."""

from serve_app.keys.model import SCOPES, ApiKey, Scope, new_key, split_key
from serve_app.keys.store import KeyStore, ensure_admin_key, open_key_store

__all__ = ["SCOPES", "ApiKey", "KeyStore", "ensure_admin_key", "Scope", "new_key", "open_key_store", "split_key"]
