"""Spread a front-end's work over the engines of several devices.

Each request goes to the engine with the fewest requests in flight from this
front-end, among those that are up (all of them when none is); ties go
round-robin.  Slots are the same on every engine (they are loaded from the same
configuration), so the first engine describes them.  The router is ready while
any engine is.

Slot operations go to every engine, since each holds its own copy of every
slot, and come back per engine (:class:`EngineOutcome`): one device may fail a
load that the others passed (out of memory, say), and the operator must see
which.  The same request id goes to each, so a retried operation is applied
once per engine.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ocrserve.engine.policy import Priority
from ocrserve.engine.protocol import Inferred, SlotInfo
from ocrserve.engine.transport import EngineClient
from ocrserve.errors import ModelError, OcrError


@dataclass(frozen=True)
class EngineOutcome:
    """One engine's answer to a slot operation: the slot as it left it, or its error."""

    engine: str  # the engine's socket path
    info: SlotInfo | None = None
    error: OcrError | None = None


class EngineRouter:
    def __init__(self, engines: Sequence[EngineClient]) -> None:
        if not engines:
            raise ValueError("EngineRouter needs at least one engine")
        self._engines = list(engines)
        self._in_flight = [0] * len(engines)
        self._turn = itertools.count()

    async def start(self) -> None:
        await asyncio.gather(*(e.start() for e in self._engines))

    async def close(self) -> None:
        await asyncio.gather(*(e.close() for e in self._engines))

    async def batch_stats(self) -> dict[str, dict[str, Any]]:
        """Counters summed over engines (numbers only; histograms are per engine)."""
        total: dict[str, dict[str, Any]] = {}
        for stats in await asyncio.gather(*(e.batch_stats() for e in self._engines)):
            for slot, counters in stats.items():
                merged = total.setdefault(slot, {})
                for key, value in counters.items():
                    if isinstance(value, int | float):
                        merged[key] = merged.get(key, 0) + value
        return total

    def slots(self) -> Mapping[str, SlotInfo]:
        return self._engines[0].slots()

    async def batch_stats_by_engine(self) -> list[dict[str, Any]]:
        """Each engine's batching counters, in engine order ({} for one that is down)."""
        results = await asyncio.gather(*(e.batch_stats() for e in self._engines),
                                       return_exceptions=True)
        return [r if isinstance(r, dict) else {} for r in results]

    def slots_by_engine(self) -> list[tuple[str, Mapping[str, SlotInfo]]]:
        """Every engine's slots (socket path, slots), in engine order."""
        return [(engine.path, engine.slots()) for engine in self._engines]

    @property
    def slots_version(self) -> int:
        """Grows whenever any engine's slots change (the sum of their counters)."""
        return sum(engine.slots_version for engine in self._engines)

    async def wait_slots_changed(self, after: int) -> int:
        """:attr:`slots_version` once it is past ``after``: some engine's slots changed."""
        while (version := self.slots_version) <= after:
            waits = [asyncio.ensure_future(e.wait_slots_changed(e.slots_version))
                     for e in self._engines]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()
        return version

    async def load_slot(self, slot: str, spec: str, *,
                        request_id: str | None = None) -> list[EngineOutcome]:
        return await self._on_every_engine(
            lambda e: e.load_slot(slot, spec, request_id=request_id))

    async def swap_slot(self, slot: str, spec: str, *, expected_version: int | None = None,
                        request_id: str | None = None) -> list[EngineOutcome]:
        return await self._on_every_engine(
            lambda e: e.swap_slot(slot, spec, expected_version=expected_version,
                                  request_id=request_id))

    async def unload_slot(self, slot: str, *, expected_version: int | None = None,
                          request_id: str | None = None) -> list[EngineOutcome]:
        return await self._on_every_engine(
            lambda e: e.unload_slot(slot, expected_version=expected_version,
                                    request_id=request_id))

    async def _on_every_engine(self, operation: Callable[[EngineClient], Awaitable[SlotInfo]]
                               ) -> list[EngineOutcome]:
        """Run ``operation`` on all engines at once; one outcome each, in engine order."""
        results = await asyncio.gather(*(operation(e) for e in self._engines),
                                       return_exceptions=True)
        outcomes = []
        for engine, result in zip(self._engines, results, strict=True):
            if isinstance(result, SlotInfo):
                outcomes.append(EngineOutcome(engine.path, info=result))
            elif isinstance(result, OcrError):
                outcomes.append(EngineOutcome(engine.path, error=result))
            elif isinstance(result, Exception):
                outcomes.append(EngineOutcome(engine.path, error=ModelError(
                    f"slot operation failed: {type(result).__name__}: {result}")))
            else:  # CancelledError and the like: not an outcome
                raise result
        return outcomes

    def ready(self) -> bool:
        return any(engine.ready() for engine in self._engines)

    def _pick(self) -> int:
        turn = next(self._turn)
        n = len(self._engines)
        up = [i for i in range(n) if self._engines[i].ready()] or list(range(n))
        return min(up, key=lambda i: (self._in_flight[i], (i - turn) % n))

    async def infer(self, slot: str, items: Sequence[np.ndarray], *,
                    priority: Priority = Priority.NORMAL,
                    deadline: float | None = None) -> Inferred:
        index = self._pick()
        self._in_flight[index] += 1
        try:
            return await self._engines[index].infer(slot, items, priority=priority,
                                                    deadline=deadline)
        finally:
            self._in_flight[index] -= 1
