"""Where key records live: a JSON file (mode 0600) for one machine, a Redis hash for a fleet, so a key
added or revoked anywhere reaches every replica at its next refresh."""

import json
import os
import time
from pathlib import Path
from typing import Protocol

from serve_app.common.redis_client import sync_redis
from serve_app.keys.model import ApiKey, key_record, new_key, split_key

REDIS_KEY = "platform:api-keys"


class KeyStore(Protocol):
    def all(self) -> dict[str, ApiKey]: ...

    def put(self, key: ApiKey) -> None: ...

    def revoke(self, key_id: str) -> bool: ...


class FileKeyStore:
    """Key records in one JSON file, rewritten atomically (a reader never sees half a file)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def all(self) -> dict[str, ApiKey]:
        if not self.path.exists():
            return {}
        return {key_id: ApiKey.model_validate(record) for key_id, record in json.loads(self.path.read_text()).items()}

    def put(self, key: ApiKey) -> None:
        self._write({**self.all(), key.id: key})

    def revoke(self, key_id: str) -> bool:
        keys = self.all()
        if key_id not in keys or keys[key_id].revoked_at is not None:
            return False
        keys[key_id] = keys[key_id].model_copy(update={"revoked_at": time.time()})
        self._write(keys)
        return True

    def _write(self, keys: dict[str, ApiKey]) -> None:
        temporary = self.path.with_suffix(".tmp")
        write_private(temporary, json.dumps({key_id: key.model_dump(mode="json") for key_id, key in keys.items()},
                                            indent=1))
        os.replace(temporary, self.path)


class RedisKeyStore:
    """Key records in one Redis hash, id → JSON record."""

    def __init__(self, url: str):
        self.redis = sync_redis(url)

    def all(self) -> dict[str, ApiKey]:
        return {key_id.decode(): ApiKey.model_validate_json(record)
                for key_id, record in self.redis.hgetall(REDIS_KEY).items()}

    def put(self, key: ApiKey) -> None:
        self.redis.hset(REDIS_KEY, key.id, key.model_dump_json())

    def revoke(self, key_id: str) -> bool:
        record = self.redis.hget(REDIS_KEY, key_id)
        if record is None or ApiKey.model_validate_json(record).revoked_at is not None:
            return False
        revoked = ApiKey.model_validate_json(record).model_copy(update={"revoked_at": time.time()})
        self.redis.hset(REDIS_KEY, key_id, revoked.model_dump_json())
        return True


def open_key_store(kind: str, path: Path, redis_url: str) -> KeyStore:
    """The store the settings name: `file` (at `path`) or `redis` (at `redis_url`)."""
    return FileKeyStore(path) if kind == "file" else RedisKeyStore(redis_url)


def ensure_admin_key(store: KeyStore, path: Path) -> str:
    """The admin key in the file at `path`: registered when the store has no record of its id (a key provisioned
    elsewhere, such as k8s/local's Secret, or a file store's key on a new Redis), created (0600) with its record
    when the file is missing, malformed, or names a record it does not match."""
    if path.exists():
        key = path.read_text().strip()
        key_id = split_key(key)
        record = store.all().get(key_id or "")
        if record is not None and record.matches(key):
            return key
        if key_id is not None and record is None:
            store.put(key_record(key, "admin", "high"))
            return key
    key, record = new_key("admin", "high")
    store.put(record)
    write_private(path, key + "\n")
    return key


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (mode 0600 from the start, never wider)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        out.write(text)
