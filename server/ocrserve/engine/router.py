"""Spread a front-end's work over the engines of several devices.

Each request goes to the engine with the fewest requests in flight from this
front-end, among those that are up (all of them when none is); ties go
round-robin.  Slots are the same on every engine (they are loaded from the same
configuration), so the first engine describes them.  The router is ready while
any engine is.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ocrserve.engine.policy import Priority
from ocrserve.engine.protocol import Inferred, SlotInfo
from ocrserve.engine.transport import EngineClient


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
