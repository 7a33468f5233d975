"""Which input shapes get a model compiled for them alone (pure: no runtime imported).

A runtime that can compile a model for one fixed input shape (OpenVINO: a fifth
faster for the detector, runtimes/openvino.py) pays 150-170 ms per compilation and
the memory of each compiled model, so it keeps a few and must choose well:

- a shape seen once is a one-off (a photo of its own size): never compiled;
- a shape that comes back (at least :data:`MIN_COUNT` times among the last
  ``window`` inputs) is compiled while there is room;
- when the kept shapes are full, a newcomer displaces the kept shape that came
  least often in the window, but only if it came more than twice as often.
  Traffic that cycles through more shapes than there is room for (the benchmark's
  16 page sizes, a mix of scanners) would otherwise compile on nearly every
  input; with the margin a stable mix settles and compiles nothing more, while a
  real shift (a new camera) still takes over once the old shape leaves the window.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

#: Sightings in the window before a shape is worth a compilation.
MIN_COUNT = 2
#: Inputs the counts are taken over.
WINDOW = 64


@dataclass(frozen=True)
class Admission(Generic[K]):
    """What to do for one input: ``keep`` it on a model of its own (compile one if it
    has none yet), after freeing the model of ``drop`` if that is not None."""

    keep: bool
    drop: K | None = None


class ShapeAdmission(Generic[K]):
    """The set of kept shapes, at most ``capacity``, decided one input at a time."""

    def __init__(self, capacity: int, window: int = WINDOW) -> None:
        if capacity < 0 or window < MIN_COUNT:
            raise ValueError(f"need capacity >= 0 and window >= {MIN_COUNT}")
        self.capacity = capacity
        self._recent: deque[K] = deque(maxlen=window)
        self._counts: Counter[K] = Counter()
        #: kept shapes -> the input number at which each was last seen (ties go by it)
        self._kept: dict[K, int] = {}
        self._seen = 0

    @property
    def kept(self) -> list[K]:
        return list(self._kept)

    def see(self, shape: K) -> Admission[K]:
        """Record an input of ``shape`` and say whether it runs on a model of its own."""
        if not self.capacity:
            return Admission(False)
        self._count(shape)
        if shape in self._kept:
            self._kept[shape] = self._seen
            return Admission(True)
        count = self._counts[shape]
        if count < MIN_COUNT:
            return Admission(False)
        if len(self._kept) < self.capacity:
            self._kept[shape] = self._seen
            return Admission(True)
        victim = min(self._kept, key=lambda k: (self._counts[k], self._kept[k]))
        if count <= 2 * self._counts[victim]:
            return Admission(False)
        del self._kept[victim]
        self._kept[shape] = self._seen
        return Admission(True, victim)

    def forget(self) -> None:
        """Drop every kept shape and count (the runtime freed its models)."""
        self._recent.clear()
        self._counts.clear()
        self._kept.clear()

    def _count(self, shape: K) -> None:
        self._seen += 1
        if len(self._recent) == self._recent.maxlen:
            oldest = self._recent[0]
            self._counts[oldest] -= 1
            if not self._counts[oldest]:
                del self._counts[oldest]
        self._recent.append(shape)
        self._counts[shape] += 1
