"""What a front-end knows about the engine: the :class:`Inference` seam.

The pipeline talks to models only through ``Inference.infer``.  Two
implementations exist: the in-process :class:`~ocrserve.engine.engine.Engine`
(single-process mode and unit tests) and
:class:`~ocrserve.engine.transport.EngineClient`, which reaches an engine
process over a Unix socket.  The pipeline cannot tell them apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from ocrserve.engine.policy import Priority


@dataclass(frozen=True)
class ModelVersion:
    """A model as the repository names it: catalog (or imported) name and version."""

    name: str
    version: int


@dataclass(frozen=True)
class Inferred:
    """What ``Inference.infer`` returns: one output per item, and the model version(s)
    that produced them (one unless a swap happened while the items were queued)."""

    outputs: list[np.ndarray]
    models: tuple[ModelVersion, ...]


@dataclass(frozen=True)
class SlotInfo:
    """A slot as the front-end needs to see it (crosses processes as a dict).

    ``model``/``version`` name what the slot serves, or would load when it is
    ``COLD``; ``state`` is one of :class:`~ocrserve.engine.slot_table.SlotState`
    and describes that model.  During a swap the ``standby_*`` fields name the
    model being loaded (``standby_state`` LOADING or WARMING) while the serving
    one stays READY.  ``error`` is the last failed load's message (kept after a
    failed swap, while the old model serves on; cleared by the next good load).
    Everything after ``state`` has a default, so callers that predate hot swap
    still build one.
    """

    slot: str
    kind: str
    model: str
    version: int
    backend: str
    device: str
    input_shape: tuple[int | None, ...]  # C, H, W; None where dynamic
    dictionary: str | None = None  # rec: path to the dictionary file
    state: str = "READY"
    format: str = ""  # paddle | onnx
    standby_model: str | None = None
    standby_version: int | None = None
    standby_state: str | None = None
    load_s: float | None = None  # reading the model files (last good load)
    warm_s: float | None = None  # running every shape bucket once (last good load)
    last_used: float | None = None  # unix time of the last infer (to about a second)
    error: str = ""
    error_reason: str = ""  # an ocrserve.errors.Reason name, with ``error``
    model_bytes: int | None = None  # size of the model's files: a floor for its memory
    memory_bytes: int | None = None  # how much the engine grew when it loaded (loaded only)

    @property
    def input_height(self) -> int:
        height = self.input_shape[1]
        if height is None:
            raise ValueError(f"slot {self.slot} has no fixed input height")
        return height

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SlotInfo:
        return cls(**{**data, "input_shape": tuple(data["input_shape"])})


class Inference(Protocol):
    """Runs model slots on batches merged across requests."""

    def slots(self) -> Mapping[str, SlotInfo]: ...

    async def infer(
        self,
        slot: str,
        items: Sequence[np.ndarray],
        *,
        priority: Priority = Priority.NORMAL,
        deadline: float | None = None,
    ) -> Inferred:
        """Run ``items`` (one CHW tensor each) through ``slot``; one output per item.

        ``deadline`` is a ``time.monotonic()`` instant (system-wide on Linux, so
        valid across processes); items still queued then fail with
        DeadlineExceeded.  Cancelling the awaiting task drops queued items.
        """
        ...

    async def batch_stats(self) -> Mapping[str, Mapping[str, Any]]:
        """Per slot: the batcher's counters (``batches``, ``items``, ``queued``, ...)."""
        ...
