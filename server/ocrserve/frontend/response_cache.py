"""A response cache for per-image results, as Triton's: off unless sized.

Identical image bytes sent with identical parameters to identical model versions
give identical results (the pipeline is deterministic), so a front-end may answer
them from memory: repeated frames of a static scene, a client's retry, the same
document sent by several services.

The key is a BLAKE2b digest of the RPC, the image message (all but its id), the
request's parameters (all fields but the images and those that do not change a
result: priority, return_timings) and the versions of every served slot, so a
model swap never returns a result of the old model.  A cryptographic digest,
because a collision would hand one caller another caller's text.

Bounded in bytes of stored results (serialized protobuf), least recently used
out first.  Each front-end process has its own cache; the counters in
``GetServerInfo`` are those of the process that answered.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf.message import Message

#: Request fields that do not change a result, left out of the key.
NEUTRAL_FIELDS = frozenset({"images", "priority", "return_timings"})


@dataclass(frozen=True)
class CacheStats:
    max_bytes: int
    bytes: int
    entries: int
    hits: int
    misses: int
    evictions: int


class ResponseCache:
    """Serialized results by key; thread-safe (the front-end's threads may share it)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[bytes, bytes] = OrderedDict()
        self._bytes = 0
        self._hits = self._misses = self._evictions = 0
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def get(self, key: bytes) -> bytes | None:
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return value

    def put(self, key: bytes, value: bytes) -> None:
        """Store ``value`` unless it alone is over the bound; evict the oldest to fit."""
        size = len(key) + len(value)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(key) + len(old)
            while self._entries and self._bytes + size > self.max_bytes:
                evicted_key, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted_key) + len(evicted)
                self._evictions += 1
            self._entries[key] = value
            self._bytes += size

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self.max_bytes, self._bytes, len(self._entries), self._hits,
                              self._misses, self._evictions)


def cache_key(method: str, image: Message, request: Message,
              versions: Iterable[tuple[str, str, int]]) -> bytes:
    """The digest of everything a result depends on (see the module docstring)."""
    digest = hashlib.blake2b(digest_size=32)
    _feed(digest, method.encode())
    _feed_fields(digest, image, exclude={"id"})
    _feed_fields(digest, request, exclude=NEUTRAL_FIELDS)
    for slot, model, version in sorted(versions):
        _feed(digest, f"{slot}={model}@{version}".encode())
    return digest.digest()


def _feed(digest: hashlib.blake2b, data: bytes) -> None:
    """Length-prefixed, so that no two different field sequences hash alike."""
    digest.update(len(data).to_bytes(8, "little"))
    digest.update(data)


def _feed_fields(digest: hashlib.blake2b, message: Message, exclude: Iterable[str]) -> None:
    """The set fields of ``message`` but ``exclude``, by field number.  Bytes fields go in
    as they are (no copy of an image into a serialized message)."""
    skipped = set(exclude)
    for field, value in message.ListFields():
        if field.name in skipped:
            continue
        _feed(digest, str(field.number).encode())
        for item in value if _is_repeated(value) else [value]:
            if isinstance(item, bytes):
                _feed(digest, item)
            elif isinstance(item, Message):
                _feed(digest, item.SerializeToString(deterministic=True))
            else:
                _feed(digest, repr(item).encode())


def _is_repeated(value: object) -> bool:
    return not isinstance(value, bytes | str | int | float | Message)
