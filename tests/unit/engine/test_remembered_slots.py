"""The file an engine leaves its successor: whole or absent, and ignored when unreadable."""

from __future__ import annotations

from pathlib import Path

from ocrserve.engine.remembered_slots import recall, remember, remembered_path


def test_specs_come_back_as_written(tmp_path: Path) -> None:
    path = remembered_path(str(tmp_path / "engine-cpu.sock"))
    assert recall(path) is None  # no predecessor
    remember(path, ["det=a@1", "rec:fr=b@2@onnx"])
    remember(path, ["det=a@2"])
    assert recall(path) == ["det=a@2"]
    assert [p.name for p in tmp_path.iterdir()] == ["engine-cpu.sock.slots.json"]


def test_anything_but_a_list_of_specs_means_start_from_the_configuration(
        tmp_path: Path) -> None:
    path = tmp_path / "slots.json"
    for content in ["", "{not json", '{"det": "a"}', '["det=a", 3]']:
        path.write_text(content)
        assert recall(path) is None, content
