"""Semantic cache: answers a request with the stored value of an earlier, similar enough one.

Entries live under an opaque key that the caller builds (model id, sampling parameters, the numbers in the
text, ...), so a lookup only ever compares embeddings stored under the same key. The default threshold is the
lowest at which every hit on generated Korean request pairs is the same request (benchmarks/semantic_similarity.py,
with use-multilingual-v3)."""

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

# Sentence punctuation, asked or not, does not change the request; an operator between numbers ("3+4") does.
_PUNCTUATION = re.compile(r"[?!.,~…？！。、]+")
_NUMBER = re.compile(r"\d+")


def cache_text(text: str) -> str:
    """What the cache embeds of a request's text: case, sentence punctuation and spacing runs left out."""
    return " ".join(_PUNCTUATION.sub(" ", text).lower().split())


def numbers_in(text: str) -> tuple[str, ...]:
    """The numbers of a request's text, for its cache key: requests that differ only in a time, an amount or an
    order number ("7시에 4명", "8시에 4명") embed alike, up to 0.99 cosine, yet never share an answer."""
    return tuple(_NUMBER.findall(text))


class SemanticCacheConfig(BaseModel):
    """Whether the cache is on, how similar a hit must be (cosine), how many entries it keeps and for how long."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    similarity_threshold: float = Field(default=0.975, gt=0.0, le=1.0)
    max_entries: int = Field(default=1024, ge=1)
    ttl_s: float = Field(default=600.0, gt=0.0)


@dataclass
class _Entries:
    """One key's entries: unit vectors as matrix rows, with the entry id, value and expiry of each row."""

    vectors: np.ndarray
    ids: list[int] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)
    expires: list[float] = field(default_factory=list)


class SemanticCache:
    """In-process cache of values by (key, embedding), inert unless `config.enabled`; not thread-safe."""

    def __init__(self, config: SemanticCacheConfig, clock: Callable[[], float] = time.monotonic):
        self.config = config
        self._clock = clock
        self._by_key: dict[Hashable, _Entries] = {}
        # Every live entry's id -> key, oldest first: eviction order across all keys.
        self._order: OrderedDict[int, Hashable] = OrderedDict()
        self._next_id = 0
        self._hits = 0
        self._misses = 0

    def lookup(self, key: Hashable, embedding: Sequence[float]) -> Any | None:
        """The value of the most similar unexpired entry under `key` at or above the threshold, else None."""
        if not self.config.enabled:
            return None
        vector = _unit(embedding)
        self._drop_expired(key)
        entries = self._by_key.get(key)
        if entries is not None:
            similarities = entries.vectors @ vector
            row = int(np.argmax(similarities))
            # float32 rounding: a vector scores 1 +- 1e-7 against itself, and a threshold of 1 means "the same".
            if similarities[row] >= self.config.similarity_threshold - 1e-6:
                self._hits += 1
                # A hit makes the entry the most recently used one, so eviction is LRU.
                self._order.move_to_end(entries.ids[row])
                return entries.values[row]
        self._misses += 1
        return None

    def store(self, key: Hashable, embedding: Sequence[float], value: Any) -> None:
        """Keeps `value` under `key` for `ttl_s`, evicting the least recently used entry when full."""
        if not self.config.enabled:
            return
        vector = _unit(embedding)
        self._drop_expired(key)
        entries = self._by_key.get(key)
        if entries is None:
            entries = self._by_key[key] = _Entries(vectors=np.empty((0, len(vector)), np.float32))
        if vector.shape[0] != entries.vectors.shape[1]:
            raise ValueError(f"embedding has {vector.shape[0]} dims, {key!r} holds {entries.vectors.shape[1]}")
        entries.vectors = np.vstack([entries.vectors, vector])
        entries.ids.append(self._next_id)
        entries.values.append(value)
        entries.expires.append(self._clock() + self.config.ttl_s)
        self._order[self._next_id] = key
        self._next_id += 1
        while len(self._order) > self.config.max_entries:
            oldest, oldest_key = next(iter(self._order.items()))
            self._remove(oldest_key, [self._by_key[oldest_key].ids.index(oldest)])

    def stats(self) -> dict:
        """Hits and misses since start-up, and entries held now (an expired one counts until its key is used)."""
        return {"hits": self._hits, "misses": self._misses, "entries": len(self._order)}

    def _drop_expired(self, key: Hashable) -> None:
        entries = self._by_key.get(key)
        if entries is not None:
            now = self._clock()
            expired = [row for row, expires in enumerate(entries.expires) if expires <= now]
            if expired:
                self._remove(key, expired)

    def _remove(self, key: Hashable, rows: list[int]) -> None:
        entries = self._by_key[key]
        dropped = set(rows)
        for row in dropped:
            del self._order[entries.ids[row]]
        keep = [row for row in range(len(entries.ids)) if row not in dropped]
        if not keep:
            del self._by_key[key]
            return
        entries.vectors = entries.vectors[keep]
        entries.ids = [entries.ids[row] for row in keep]
        entries.values = [entries.values[row] for row in keep]
        entries.expires = [entries.expires[row] for row in keep]


def _unit(embedding: Sequence[float]) -> np.ndarray:
    vector = np.asarray(embedding, dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    if vector.ndim != 1 or not np.isfinite(norm) or norm == 0.0:
        raise ValueError("an embedding must be one finite, non-zero vector")
    return vector / norm
