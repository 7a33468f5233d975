"""EngineRouter over fake engines: least requests in flight first, ties round-robin."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from ocrserve.engine.policy import Priority
from ocrserve.engine.protocol import Inferred, ModelVersion, SlotInfo
from ocrserve.engine.router import EngineRouter

SLOTS = {"rec": SlotInfo("rec", "rec", "m", 1, "fake", "cpu", (3, 32, None))}


class FakeEngine:
    """Holds each call until ``release`` is set; records what it served."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.served: list[int] = []
        self.release = asyncio.Event()
        self.release.set()
        self.up = True

    def ready(self) -> bool:
        return self.up

    def slots(self) -> Mapping[str, SlotInfo]:
        return SLOTS

    async def batch_stats(self) -> dict[str, dict[str, Any]]:
        return {"rec": {"batches": len(self.served), "items": sum(self.served),
                        "batch_sizes": {"1": 1}}}

    async def infer(self, slot: str, items: Sequence[np.ndarray], *,
                    priority: Priority = Priority.NORMAL,
                    deadline: float | None = None) -> Inferred:
        self.served.append(len(items))
        await self.release.wait()
        return Inferred(list(items), (ModelVersion(self.name, 1),))


def item() -> list[np.ndarray]:
    return [np.zeros((3, 32, 320), np.float32)]


def test_idle_engines_take_turns() -> None:
    async def main() -> None:
        engines = [FakeEngine("a"), FakeEngine("b")]
        router = EngineRouter(engines)  # type: ignore[list-item]
        names = [(await router.infer("rec", item())).models[0].name for _ in range(4)]
        assert names == ["a", "b", "a", "b"]
    asyncio.run(main())


def test_a_busy_engine_is_passed_over() -> None:
    async def main() -> None:
        busy, idle = FakeEngine("busy"), FakeEngine("idle")
        busy.release.clear()
        router = EngineRouter([busy, idle])  # type: ignore[list-item]
        held = [asyncio.create_task(router.infer("rec", item())) for _ in range(1)]
        await asyncio.sleep(0)
        answered = [(await router.infer("rec", item())).models[0].name for _ in range(3)]
        assert answered == ["idle", "idle", "idle"]  # busy has 1 in flight, idle 0 each time
        busy.release.set()
        assert (await held[0]).models[0].name == "busy"
    asyncio.run(main())


def test_an_engine_that_is_down_gets_no_new_work() -> None:
    async def main() -> None:
        down, up = FakeEngine("down"), FakeEngine("up")
        down.up = False
        router = EngineRouter([down, up])  # type: ignore[list-item]
        assert router.ready()
        names = [(await router.infer("rec", item())).models[0].name for _ in range(3)]
        assert names == ["up", "up", "up"]
        up.up = False
        assert not router.ready()
        # With no engine up the call still goes somewhere: it waits for a restart there.
        assert (await router.infer("rec", item())).models[0].name in {"up", "down"}
    asyncio.run(main())


def test_stats_are_summed_and_histograms_left_out() -> None:
    async def main() -> None:
        a, b = FakeEngine("a"), FakeEngine("b")
        router = EngineRouter([a, b])  # type: ignore[list-item]
        for _ in range(3):
            await router.infer("rec", item())
        stats = await router.batch_stats()
        assert stats == {"rec": {"batches": 3, "items": 3}}
    asyncio.run(main())


def test_a_router_needs_an_engine() -> None:
    with pytest.raises(ValueError):
        EngineRouter([])
