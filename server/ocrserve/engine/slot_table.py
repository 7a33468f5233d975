"""The engine's slots as data: what each serves, its state, and a change counter.

The table is bookkeeping only: the engine (``engine.py``) does the loading
and draining and tells the table what happened.  Every change the
front-ends should hear about goes through :meth:`SlotTable.changed`, which
bumps :attr:`SlotTable.version`, wakes :meth:`SlotTable.wait_changed` and
calls the listeners (the engine server pushes the new table to every
front-end from one).  Use times are not changes: they would make every
request a push.  :meth:`SlotTable.infos` still reports them, to about
:data:`LAST_USED_RESOLUTION_S`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING

from ocrserve.engine.protocol import SlotInfo
from ocrserve.engine.slots import SlotConfig, slot_info
from ocrserve.errors import NotFound

if TYPE_CHECKING:
    from ocrserve.engine.slots import LoadedSlot

#: How stale a slot's reported ``last_used`` may be, in seconds.
LAST_USED_RESOLUTION_S = 1.0


class SlotState(StrEnum):
    """A slot's state; the ``ocr.v1.SlotState`` names without their prefix."""

    COLD = "COLD"  # declared, not loaded: the first request loads it
    LOADING = "LOADING"  # reading the model (nothing serves yet)
    WARMING = "WARMING"  # running the shape buckets (nothing serves yet)
    READY = "READY"  # serving
    DRAINING = "DRAINING"  # finishing queued work before it is unloaded or evicted
    FAILED = "FAILED"  # its load failed and nothing serves it; ``error`` says why
    UNLOADED = "UNLOADED"  # only in what unload returns: the slot is gone


@dataclass(eq=False)
class SlotEntry:
    """One slot.  ``config`` is what it serves, or would load when COLD or FAILED."""

    config: SlotConfig
    backend: str  # the runtime key that serves (or will serve) it
    state: SlotState
    model_bytes: int | None = None
    memory_bytes: int | None = None  # measured at the serving model's load
    serving: LoadedSlot | None = None
    standby: SlotConfig | None = None
    standby_state: SlotState | None = None
    error: str = ""
    error_reason: str = ""
    load_s: float | None = None
    warm_s: float | None = None
    last_used: float | None = None
    #: Held by whatever changes the slot (an operation, a first-use load, an eviction).
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: A first-use load in progress: requests arriving meanwhile wait for it.
    cold_load: asyncio.Task[LoadedSlot] | None = None

    @property
    def name(self) -> str:
        return self.config.slot

    @property
    def version(self) -> int:
        return self.config.model.version

    def info(self) -> SlotInfo:
        standby = self.standby.model if self.standby is not None else None
        return replace(
            slot_info(self.config, self.backend), state=str(self.state),
            standby_model=standby.name if standby else None,
            standby_version=standby.version if standby else None,
            standby_state=str(self.standby_state) if self.standby_state else None,
            load_s=self.load_s, warm_s=self.warm_s, last_used=self.last_used,
            error=self.error, error_reason=self.error_reason, model_bytes=self.model_bytes,
            memory_bytes=self.memory_bytes)


class SlotTable:
    def __init__(self) -> None:
        self.entries: dict[str, SlotEntry] = {}
        #: Bumped on every change; with ``epoch`` (new for each table, so for each
        #: engine process) it orders the snapshots a front-end receives.
        self.version = 0
        self.epoch = uuid.uuid4().hex
        self._listeners: list[Callable[[int], None]] = []
        self._waiters: list[asyncio.Future[int]] = []
        self._infos: dict[str, SlotInfo] | None = None

    def get(self, name: str) -> SlotEntry:
        entry = self.entries.get(name)
        if entry is None:
            known = ", ".join(self.entries) or "none"
            raise NotFound(f"no slot named {name!r}; slots: {known}",
                           metadata={"slot": name, "loaded": known})
        return entry

    def infos(self) -> Mapping[str, SlotInfo]:
        """Every slot as the front-end sees it (rebuilt only after a change)."""
        if self._infos is None:
            self._infos = {name: entry.info() for name, entry in self.entries.items()}
        return self._infos

    def touch(self, entry: SlotEntry, now: float | None = None) -> None:
        """``entry`` was just used: the LRU order (and, within a second, ``last_used``)."""
        now = time.time() if now is None else now
        reported = entry.last_used
        entry.last_used = now
        if reported is None or now - reported >= LAST_USED_RESOLUTION_S:
            self._infos = None

    def changed(self) -> int:
        """Something the front-ends should hear about changed: tell them."""
        self._infos = None
        self.version += 1
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(self.version)
        for listener in list(self._listeners):
            listener(self.version)
        return self.version

    def add_listener(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(version)`` after every change (on the event loop)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[int], None]) -> None:
        self._listeners.remove(listener)

    async def wait_changed(self, after: int) -> int:
        """The version, once it is past ``after`` (at once if it already is)."""
        while self.version <= after:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter
        return self.version

    def loaded(self) -> list[SlotEntry]:
        """Slots with a model in memory (serving or about to)."""
        return [e for e in self.entries.values()
                if e.serving is not None or e.state in (SlotState.LOADING, SlotState.WARMING)]

    def evictable(self, keep: Collection[str]) -> list[SlotEntry]:
        """Slots that may be evicted, least recently used first: READY, not ``keep``, no
        operation on them, and nothing queued or running."""
        candidates = [e for e in self.entries.values()
                      if e.state is SlotState.READY and e.serving is not None
                      and e.name not in keep and not e.lock.locked() and not e.serving.busy]
        return sorted(candidates, key=lambda e: e.last_used or 0.0)
