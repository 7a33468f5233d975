"""The engine's side of the metrics: per loaded model, and the state of every slot.

:class:`SlotMetrics` binds the per-model families of ``metrics/families.py`` to
one slot's labels once, so a batch costs a few increments, not label lookups.
:class:`SlotStates` listens to the slot table and keeps ``ocr_model_state``
and the load and warm-up durations in step with it: one series per (slot,
model, version, state) at 1 for what each slot is now, 0 for what it was.
"""

from __future__ import annotations

from collections.abc import Mapping

from ocrserve.engine.protocol import SlotInfo
from ocrserve.metrics import families

STATES = ("COLD", "LOADING", "WARMING", "READY", "DRAINING", "FAILED")


class SlotMetrics:
    def __init__(self, slot: str, model: str, version: int) -> None:
        labels = (slot, model, str(version))
        self.inference_count = families.INFERENCE_COUNT.labels(*labels)
        self.exec_count = families.INFERENCE_EXEC_COUNT.labels(*labels)
        self.queue = families.INFERENCE_QUEUE_DURATION.labels(*labels)
        self.compute = families.INFERENCE_COMPUTE_DURATION.labels(*labels)
        self.batch_size = families.INFERENCE_BATCH_SIZE.labels(*labels)
        self.batch_elements = families.INFERENCE_BATCH_ELEMENTS.labels(*labels)
        self.item_elements = families.INFERENCE_ITEM_ELEMENTS.labels(*labels)
        self.pending = families.INFERENCE_PENDING.labels(slot)


class SlotStates:
    """Call with the slots after every change (a SlotTable listener)."""

    def __init__(self) -> None:
        #: What each slot was last reported as: (model, version, state).
        self._shown: dict[str, tuple[str, int, str]] = {}

    def update(self, slots: Mapping[str, SlotInfo]) -> None:
        for name, info in slots.items():
            now = (info.model, info.version, info.state)
            before = self._shown.get(name)
            if before == now:
                continue
            if before is not None:
                families.MODEL_STATE.labels(name, before[0], str(before[1]), before[2]).set(0)
            families.MODEL_STATE.labels(name, info.model, str(info.version), info.state).set(1)
            if info.state == "READY":
                labels = (name, info.model, str(info.version))
                families.MODEL_LOAD_DURATION.labels(*labels).set(info.load_s or 0.0)
                families.MODEL_WARM_DURATION.labels(*labels).set(info.warm_s or 0.0)
            self._shown[name] = now
        for name in set(self._shown) - set(slots):  # unloaded
            model, version, state = self._shown.pop(name)
            families.MODEL_STATE.labels(name, model, str(version), state).set(0)
