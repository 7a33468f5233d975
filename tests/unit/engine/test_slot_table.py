"""SlotTable bookkeeping: snapshots, the change counter, use times, SlotInfo's new fields."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ocrserve.engine.policy import BatchPolicy
from ocrserve.engine.protocol import SlotInfo
from ocrserve.engine.slot_table import LAST_USED_RESOLUTION_S, SlotEntry, SlotState, SlotTable
from ocrserve.engine.slots import SlotConfig
from ocrserve.models.repository import InstalledModel
from ocrserve.runtimes import RuntimeOptions


def config(slot: str = "rec", version: int = 1) -> SlotConfig:
    model = InstalledModel(name="m", version=version, kind="rec", format="onnx",
                           path=Path("/nowhere"), input_shape=(3, 32, None), num_classes=10,
                           dictionary=Path("/nowhere/dict.txt"), files={}, source="test")
    return SlotConfig(slot=slot, model=model, backend="onnxruntime", runtime=RuntimeOptions(),
                      policy=BatchPolicy(), det_buckets=(), rec_width_step=1)


def table_with(*entries: SlotEntry) -> SlotTable:
    table = SlotTable()
    for entry in entries:
        table.entries[entry.name] = entry
    return table


def test_an_entry_reports_its_state_standby_and_error() -> None:
    entry = SlotEntry(config(), "onnxruntime", SlotState.READY, model_bytes=123)
    entry.standby, entry.standby_state = config(version=2), SlotState.WARMING
    entry.error, entry.error_reason = "boom", "MODEL_LOAD_FAILED"
    info = entry.info()
    assert (info.slot, info.model, info.version, info.format, info.state) == (
        "rec", "m", 1, "onnx", "READY")
    assert (info.standby_model, info.standby_version, info.standby_state) == ("m", 2, "WARMING")
    assert (info.error, info.error_reason, info.model_bytes) == ("boom", "MODEL_LOAD_FAILED", 123)
    assert info.dictionary == "/nowhere/dict.txt"
    assert SlotInfo.from_dict(info.to_dict()) == info  # crosses processes whole


def test_old_style_slot_infos_still_build_and_cross() -> None:
    info = SlotInfo("det", "det", "m", 1, "onnxruntime", "cpu", (3, None, None))
    assert info.state == "READY" and info.standby_model is None and info.error == ""
    assert SlotInfo.from_dict(info.to_dict()) == info


def test_changes_bump_the_version_wake_waiters_and_call_listeners() -> None:
    async def main() -> None:
        table = table_with(SlotEntry(config(), "onnxruntime", SlotState.COLD))
        heard: list[int] = []
        table.add_listener(heard.append)
        waiter = asyncio.create_task(table.wait_changed(0))
        await asyncio.sleep(0)
        assert not waiter.done()
        before = table.infos()
        table.entries["rec"].state = SlotState.READY
        assert table.changed() == 1
        assert await waiter == 1 and heard == [1]
        assert await table.wait_changed(0) == 1  # already past: at once
        assert before["rec"].state == "COLD" and table.infos()["rec"].state == "READY"
        table.remove_listener(heard.append)
        table.changed()
        assert heard == [1]
    asyncio.run(main())


def test_use_times_are_reported_to_a_second_without_counting_as_changes() -> None:
    table = table_with(SlotEntry(config(), "onnxruntime", SlotState.READY))
    entry = table.entries["rec"]
    table.touch(entry, now=1000.0)
    assert table.infos()["rec"].last_used == 1000.0
    table.touch(entry, now=1000.0 + LAST_USED_RESOLUTION_S / 2)
    assert table.infos()["rec"].last_used == 1000.0  # the snapshot is kept
    table.touch(entry, now=1000.0 + LAST_USED_RESOLUTION_S * 2)
    assert table.infos()["rec"].last_used == 1000.0 + LAST_USED_RESOLUTION_S * 2
    assert entry.last_used == 1000.0 + LAST_USED_RESOLUTION_S * 2
    assert table.version == 0


def test_loaded_counts_what_holds_a_model() -> None:
    table = table_with(SlotEntry(config("rec"), "x", SlotState.COLD),
                       SlotEntry(config("rec:a"), "x", SlotState.LOADING),
                       SlotEntry(config("rec:b"), "x", SlotState.FAILED))
    assert [e.name for e in table.loaded()] == ["rec:a"]
    assert table.evictable(keep=()) == []  # nothing READY
