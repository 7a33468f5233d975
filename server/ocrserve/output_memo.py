"""Model outputs remembered by their exact input, for the frames of one video stream.

In a video, a changed frame often changes one line while the others stay put.
Detection must run again (a box can only be found by looking), but a line
whose crop comes out the same as in an earlier frame needs neither the angle
classifier nor the recognizer again.  The key is the exact model input: the
slot, the model version that ran, and a digest of the preprocessed tensor
(padding included, since PaddleOCR's padding depends on the other crops of
the image: see ``pipeline.rec_tensors``).  Equal inputs give equal outputs, so
a reused line is what recomputing it would have given; a crop that moved by a
sub-pixel, or a swap to another model version, simply misses.

One :class:`OutputMemo` per stream (least recently used entries go beyond
``capacity``); each frame uses it through a :class:`FrameMemo`, which counts
that frame's reuses.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

#: Entries per stream: a few frames' worth of lines; each holds one crop's output.
CAPACITY = 512

Key = tuple[str, str, int, bytes]


def input_digest(tensor: np.ndarray) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(str((tensor.shape, tensor.dtype.str)).encode())
    digest.update(np.ascontiguousarray(tensor).data)
    return digest.digest()


class OutputMemo:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[Key, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Key) -> np.ndarray | None:
        output = self._entries.get(key)
        if output is not None:
            self._entries.move_to_end(key)
        return output

    def put(self, key: Key, output: np.ndarray) -> None:
        self._entries[key] = output
        self._entries.move_to_end(key)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)


@dataclass
class FrameMemo:
    """One frame's use of its stream's memo; ``reused`` counts hits per model kind."""

    memo: OutputMemo
    reused: dict[str, int] = field(default_factory=dict)

    def keys(self, slot: str, model: str, version: int, tensors: Sequence[np.ndarray]
             ) -> list[Key]:
        return [(slot, model, version, input_digest(t)) for t in tensors]

    def lookup(self, kind: str, keys: Sequence[Key]) -> list[np.ndarray | None]:
        found = [self.memo.get(k) for k in keys]
        hits = sum(f is not None for f in found)
        if hits:
            self.reused[kind] = self.reused.get(kind, 0) + hits
        return found
