"""EngineRouter over fake engines: least requests in flight first, ties round-robin; slot
operations on every engine, reported per engine."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from ocrserve.engine.policy import Priority
from ocrserve.engine.protocol import Inferred, ModelVersion, SlotInfo
from ocrserve.engine.router import EngineRouter
from ocrserve.errors import FailedPrecondition, Reason

SLOTS = {"rec": SlotInfo("rec", "rec", "m", 1, "fake", "cpu", (3, 32, None))}


class FakeEngine:
    """Holds each call until ``release`` is set; records what it served."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.path = f"/run/{name}.sock"
        self.served: list[int] = []
        self.release = asyncio.Event()
        self.release.set()
        self.up = True
        self.slots_version = 0
        self.changed = asyncio.Event()
        self.operations: list[tuple[str, str, int | None, str | None]] = []
        self.fail_with: FailedPrecondition | None = None

    async def wait_slots_changed(self, after: int) -> int:
        while self.slots_version <= after:
            await self.changed.wait()
            self.changed.clear()
        return self.slots_version

    def change(self) -> None:
        self.slots_version += 1
        self.changed.set()

    async def swap_slot(self, slot: str, spec: str, *, expected_version: int | None = None,
                        request_id: str | None = None) -> SlotInfo:
        self.operations.append((slot, spec, expected_version, request_id))
        if self.fail_with is not None:
            raise self.fail_with
        return SlotInfo(slot, "rec", spec, 2, "fake", self.name, (3, 32, None))

    async def load_slot(self, slot: str, spec: str, *, request_id: str | None = None) -> SlotInfo:
        return await self.swap_slot(slot, spec, request_id=request_id)

    async def unload_slot(self, slot: str, *, expected_version: int | None = None,
                          request_id: str | None = None) -> SlotInfo:
        return await self.swap_slot(slot, "", expected_version=expected_version,
                                    request_id=request_id)

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


def test_slot_operations_reach_every_engine_and_come_back_per_engine() -> None:
    async def main() -> None:
        a, b = FakeEngine("a"), FakeEngine("b")
        b.fail_with = FailedPrecondition("out of memory", reason=Reason.MODEL_LOAD_FAILED)
        router = EngineRouter([a, b])  # type: ignore[list-item]
        outcomes = await router.swap_slot("rec", "m@2", expected_version=1, request_id="r1")
        assert [o.engine for o in outcomes] == ["/run/a.sock", "/run/b.sock"]
        assert outcomes[0].info is not None and outcomes[0].info.device == "a"
        assert outcomes[0].error is None
        assert outcomes[1].info is None and outcomes[1].error is b.fail_with
        assert a.operations == b.operations == [("rec", "m@2", 1, "r1")]
        b.fail_with = None
        loaded = await router.load_slot("rec:x", "m", request_id="r2")
        unloaded = await router.unload_slot("rec:x", expected_version=2, request_id="r3")
        assert all(o.info is not None for o in loaded + unloaded)
        assert a.operations[1:] == [("rec:x", "m", None, "r2"), ("rec:x", "", 2, "r3")]
    asyncio.run(main())


def test_a_change_on_any_engine_ends_the_wait() -> None:
    async def main() -> None:
        a, b = FakeEngine("a"), FakeEngine("b")
        router = EngineRouter([a, b])  # type: ignore[list-item]
        assert router.slots_version == 0
        waiting = asyncio.create_task(router.wait_slots_changed(0))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        b.change()
        assert await asyncio.wait_for(waiting, 1) == 1
        assert await router.wait_slots_changed(0) == 1  # already past
        assert [path for path, _ in router.slots_by_engine()] == ["/run/a.sock", "/run/b.sock"]
    asyncio.run(main())
