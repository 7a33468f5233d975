"""Spreading calls over sibling front-ends: the placement rule and the shared board."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocrserve.frontend.spread import LoadBoard, pick_peer


@pytest.mark.parametrize(("me", "loads", "cost", "expected"), [
    (0, [0, 0], 100, None),            # idle: keep it
    (0, [100, 0], 100, 1),             # the sibling idles: hand it over
    (0, [100, 50], 100, None),         # it would carry more than this one does
    (0, [150, 50], 100, 1),            # 50 + 100 <= 150
    (1, [300, 200, 20], 100, 2),       # the least loaded of several
    (0, [5, 0], 0, 1),                 # a call of no pixels still has a cost
    (0, [0, 0], 0, None),
    (0, [10], 5, None),                # no siblings
])
def test_placement(me: int, loads: list[int], cost: int, expected: int | None) -> None:
    assert pick_peer(me, loads, cost) == expected


def test_equal_loads_never_send_work_back_and_forth() -> None:
    loads = [0, 0]
    for me in (0, 1, 0, 1):  # each front-end in turn receives and keeps a call
        assert pick_peer(me, loads, 100) in (None, 1 - me)
        target = pick_peer(me, loads, 100)
        loads[me if target is None else target] += 100
    assert loads == [200, 200]


def test_every_process_sees_what_the_others_publish(tmp_path: Path) -> None:
    path = tmp_path / "frontend-load"
    LoadBoard.create(path, 3)
    writer, reader = LoadBoard(path, 3), LoadBoard(path, 3)
    writer.publish(2, 12_345_678_901)
    reader.publish(0, 7)
    assert reader.loads() == [7, 0, 12_345_678_901]
    assert writer.loads() == reader.loads()
    writer.close()
    reader.close()
