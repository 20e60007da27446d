"""The key records a replica checks against: the whole table, read from the store on a thread at most
once per `refresh_s`, so a lookup is a dict access and an unknown key costs the store nothing. A key
added or revoked anywhere is seen within `refresh_s`; if the store cannot answer, the last table stands."""

import asyncio
import logging
import time

from serve_app.common.errors import AuthUnavailable
from serve_app.keys import ApiKey, KeyStore, split_key

logger = logging.getLogger("ray.serve")


class KeyTable:
    def __init__(self, store: KeyStore, refresh_s: float = 2.0):
        self.store, self.refresh_s = store, refresh_s
        self._keys: dict[str, ApiKey] | None = None
        self._read_at = 0.0
        self._lock = asyncio.Lock()

    async def lookup(self, presented: str) -> ApiKey | None:
        """The record of this exact, active key; None for a malformed, unknown or revoked one."""
        key_id = split_key(presented)
        if key_id is None:
            return None
        record = (await self._table()).get(key_id)
        return record if record is not None and record.matches(presented) else None

    async def _table(self) -> dict[str, ApiKey]:
        if self._keys is not None and time.monotonic() - self._read_at < self.refresh_s:
            return self._keys
        async with self._lock:  # one read for every request that finds the table stale
            if self._keys is None or time.monotonic() - self._read_at >= self.refresh_s:
                try:
                    self._keys = await asyncio.to_thread(self.store.all)
                except Exception as error:  # the store is down: keep what we had
                    logger.warning("API key store unreadable", extra={"detail": repr(error)})
                    if self._keys is None:
                        raise AuthUnavailable("the API key store cannot be read; retry shortly") from None
                self._read_at = time.monotonic()
        return self._keys
