"""The synthetic image set: sizes, determinism, idempotence, ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from ocrserve.bench.images import MANIFEST, generate_image_set, image_specs


@pytest.fixture(scope="module")
def small_set(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return generate_image_set(tmp_path_factory.mktemp("small"), "small")


def test_small_set_has_six_images_of_the_declared_sizes(small_set: list[Path]) -> None:
    specs = image_specs("small")
    assert len(small_set) == len(specs) == 6
    for path, spec in zip(small_set, specs, strict=True):
        with Image.open(path) as image:
            assert image.size == spec.size, path.name
            assert image.mode == "RGB"
    with Image.open(small_set[0].parent / "banner_4000x200.png") as banner:
        assert banner.size == (4000, 200)


def test_full_set_spans_tiny_to_a4_and_banner() -> None:
    sizes = {spec.size for spec in image_specs()}
    assert len(image_specs()) == 16
    assert {(320, 240), (2480, 3508), (4000, 200)} <= sizes
    assert {s.name for s in image_specs("small")} < {s.name for s in image_specs()}
    assert any(spec.jpeg_quality for spec in image_specs())


def test_generation_is_deterministic(small_set: list[Path], tmp_path: Path) -> None:
    again = generate_image_set(tmp_path, "small")
    assert [p.name for p in again] == [p.name for p in small_set]
    for first, second in zip(small_set, again, strict=True):
        assert first.read_bytes() == second.read_bytes(), first.name


def test_manifest_records_ground_truth_text(small_set: list[Path]) -> None:
    manifest = json.loads((small_set[0].parent / MANIFEST).read_text())
    entries = {entry["file"]: entry for entry in manifest["images"]}
    assert sorted(entries) == sorted(p.name for p in small_set)
    assert all(entry["lines"] for entry in entries.values())
    assert any("¥" in line for line in entries["tag_320x240.png"]["lines"])
    assert len(entries["banner_4000x200.png"]["lines"]) == 1


def test_existing_set_is_reused_and_a_damaged_one_redrawn(tmp_path: Path) -> None:
    paths = generate_image_set(tmp_path, "small")
    stamp = paths[0].stat().st_mtime_ns
    assert generate_image_set(tmp_path, "small") == paths
    assert paths[0].stat().st_mtime_ns == stamp
    original = paths[1].read_bytes()
    paths[1].write_bytes(b"not an image")
    generate_image_set(tmp_path, "small")
    assert paths[1].read_bytes() == original


def test_720p_set_is_frames_of_about_ten_lines(tmp_path: Path) -> None:
    paths = generate_image_set(tmp_path, "720p")
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    counts = [len(entry["lines"]) for entry in manifest["images"]]
    assert len(paths) == 12
    assert 9 <= sum(counts) / len(counts) <= 12
    assert {p.suffix for p in paths} == {".png", ".jpg"}
    for path in paths:
        with Image.open(path) as image:
            assert image.size == (1280, 720), path.name


def test_an_unknown_set_is_refused_with_the_known_names() -> None:
    with pytest.raises(ValueError, match="mixed, small, 720p"):
        image_specs("a4")
