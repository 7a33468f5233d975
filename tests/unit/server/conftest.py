"""A fake :class:`~ocrserve.engine.protocol.Inference` for pipeline and servicer tests.

It stands in for the engine at the seam the pipeline calls, so these tests need
no models, processes or gRPC.  Its "models" are simple and predictable:

- det: the probability map is 1 where the resized page (uint8, as the pipeline
  sends it) is dark (text drawn black on white), 0 elsewhere, so every black
  rectangle becomes one box;
- cls: every crop gets ``cls_probs`` (label 0, label 180);
- rec: every crop reads "ab" with probability 0.9 per kept step, already reduced
  to (argmax, max prob) per time step as the engine's RecShaper returns it.

``failures`` makes a slot raise an error at once instead (an OcrError instance,
or a callable deciding per call from the items); calls that do not fail take
``delay_s`` and count in ``cancelled`` when cancelled meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ocrserve.engine.policy import Priority
from ocrserve.engine.protocol import Inferred, ModelVersion, SlotInfo

Failure = BaseException | Callable[[Sequence[np.ndarray]], BaseException | None]


class FakeInference:
    def __init__(self, dictionary: Path, slots: Sequence[str] = ("det", "cls", "rec")) -> None:
        infos = {
            "det": SlotInfo("det", "det", "fake_det", 3, "fake", "cpu", (3, None, None)),
            "cls": SlotInfo("cls", "cls", "fake_cls", 1, "fake", "cpu", (3, 48, 192)),
            "rec": SlotInfo("rec", "rec", "fake_rec", 7, "fake", "cpu", (3, 32, None),
                            dictionary=str(dictionary)),
        }
        self._slots = {name: infos[name] for name in slots}
        self.cls_probs = (0.05, 0.95)
        self.failures: dict[str, Failure] = {}
        self.calls: list[tuple[str, int, Priority, float | None]] = []
        self.delay_s = 0.0
        self.cancelled = 0
        #: failures wait until this many calls have arrived (so others are in flight)
        self.failures_wait_for_calls = 0

    def slots(self) -> Mapping[str, SlotInfo]:
        return self._slots

    async def batch_stats(self) -> Mapping[str, Mapping[str, Any]]:
        return {name: {"batches": 1, "items": 2, "queued": 0} for name in self._slots}

    async def infer(self, slot: str, items: Sequence[np.ndarray], *,
                    priority: Priority = Priority.NORMAL,
                    deadline: float | None = None) -> Inferred:
        self.calls.append((slot, len(items), priority, deadline))
        failure = self.failures.get(slot)
        if callable(failure) and not isinstance(failure, BaseException):
            failure = failure(items)
        if failure is not None:
            while len(self.calls) < self.failures_wait_for_calls:
                await asyncio.sleep(0.005)
            raise failure
        try:
            await asyncio.sleep(self.delay_s)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        info = self._slots[slot]
        outputs = [self._run(info.kind, item) for item in items]
        return Inferred(outputs, (ModelVersion(info.model, info.version),))

    def _run(self, kind: str, item: np.ndarray) -> np.ndarray:
        if kind == "det":
            return (item[:, :, 0] < 128).astype(np.float32)
        if kind == "cls":
            return np.asarray(self.cls_probs, np.float32)
        steps = max(4, item.shape[1] // 4)  # the crop item is H x W x 4
        reduced = np.zeros((steps, 2), np.float32)
        reduced[:, 1] = 0.9
        reduced[0, 0], reduced[2, 0] = 1, 2  # "a", blank, "b", blanks
        return reduced


@pytest.fixture
def dictionary(tmp_path: Path) -> Path:
    path = tmp_path / "dict.txt"
    path.write_text("a\nb\nc\n", encoding="utf-8")
    return path


@pytest.fixture
def inference(dictionary: Path) -> FakeInference:
    return FakeInference(dictionary)


def page(*rects: tuple[int, int, int, int], size: tuple[int, int] = (200, 400)) -> np.ndarray:
    """A white BGR page with black (x, y, w, h) rectangles: the fake detector's "text"."""
    img = np.full((*size, 3), 255, np.uint8)
    for x, y, w, h in rects:
        img[y:y + h, x:x + w] = 0
    return img


class FakeContext:
    """What the handlers ask of a grpc.aio ServicerContext (for tests that call them directly)."""

    def __init__(self, time_remaining: float | None = None) -> None:
        self._time_remaining = time_remaining

    def time_remaining(self) -> float | None:
        return self._time_remaining
