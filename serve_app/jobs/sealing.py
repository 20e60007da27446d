"""What a client sent or got back, kept at rest for a job (its request body, its result), is sealed with
AES-256-GCM under a key kept outside Redis: a Redis dump or AOF file then holds no readable prompt, image
or answer, and a sealed part opens only for the job (and part) it was sealed for. Encrypted rather than
masked: a job must replay exactly what was sent, and masking would change what the model is asked.

The key is PLATFORM_JOBS_DATA_KEY (base64 of 32 bytes; a fleet passes the same one to every node from a
secret), else the file PLATFORM_JOBS_DATA_KEY_FILE, made on first use, readable by its owner only."""

import base64
import binascii
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE_BYTES = 12


class Sealer:
    def __init__(self, key: bytes):
        self._aead = AESGCM(key)

    @classmethod
    def from_settings(cls, key: str | None, key_file: Path) -> "Sealer":
        if key:
            try:
                raw = base64.b64decode(key, validate=True)
            except binascii.Error:
                raw = b""
            if len(raw) != 32:
                raise ValueError("PLATFORM_JOBS_DATA_KEY must be the base64 of 32 bytes")
            return cls(raw)
        return cls(_key_file(key_file))

    def seal(self, data: bytes, context: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data, context.encode())

    def open(self, sealed: bytes, context: str) -> bytes | None:
        """The data, or None when it was sealed under another key or for another context."""
        try:
            return self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], context.encode())
        except (InvalidTag, ValueError):
            return None


def _key_file(path: Path) -> bytes:
    """The key in `path`; a new one when there is none, linked into place whole, so processes that start
    together all read the one that got there first."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as file:
            file.write(AESGCM.generate_key(bit_length=256))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    key = path.read_bytes()
    if len(key) != 32:
        raise ValueError(f"{path} does not hold a 32-byte key")
    return key
