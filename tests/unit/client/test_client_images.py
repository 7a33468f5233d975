"""Image objects -> ocr_pb2.Image: every accepted kind, and the refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from ocrclient import to_image
from ocrclient._images import to_images
from ocrclient.proto.ocr.v1 import ocr_pb2

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png(tmp_path: Path) -> Path:
    path = tmp_path / "page.png"
    PILImage.new("RGB", (5, 3), (10, 20, 30)).save(path)
    return path


def test_bytes_are_sent_encoded_as_is() -> None:
    image = to_image(PNG_MAGIC + b"rest", id="x")
    assert image.WhichOneof("source") == "encoded"
    assert image.encoded == PNG_MAGIC + b"rest"
    assert image.id == "x"
    assert to_image(bytearray(b"abc")).encoded == b"abc"
    assert to_image(memoryview(b"abc")).encoded == b"abc"


def test_empty_bytes_are_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        to_image(b"")


@pytest.mark.parametrize("as_str", [True, False])
def test_path_is_read_and_becomes_the_id(tmp_path: Path, as_str: bool) -> None:
    path = _png(tmp_path)
    image = to_image(str(path) if as_str else path)
    assert image.encoded == path.read_bytes()
    assert image.encoded.startswith(PNG_MAGIC)
    assert image.id == str(path)
    assert to_image(path, id="mine").id == "mine"


def test_missing_path_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        to_image(tmp_path / "absent.png")


@pytest.mark.parametrize(
    ("shape", "channel_order", "expected"),
    [
        ((3, 5), "bgr", ocr_pb2.CHANNEL_ORDER_GRAY),
        ((3, 5, 1), "rgb", ocr_pb2.CHANNEL_ORDER_GRAY),
        ((3, 5, 3), "bgr", ocr_pb2.CHANNEL_ORDER_BGR),
        ((3, 5, 3), "rgb", ocr_pb2.CHANNEL_ORDER_RGB),
        ((3, 5, 4), "bgr", ocr_pb2.CHANNEL_ORDER_BGRA),
        ((3, 5, 4), "rgb", ocr_pb2.CHANNEL_ORDER_RGBA),
    ],
)
def test_numpy_arrays_become_raw_pixels(shape: tuple[int, ...], channel_order: str,
                                        expected: int) -> None:
    array = np.arange(np.prod(shape), dtype=np.uint8).reshape(shape)
    image = to_image(array, channel_order=channel_order)  # type: ignore[arg-type]
    raw = image.raw
    assert (raw.width, raw.height, raw.channel_order) == (5, 3, expected)
    assert raw.pixels == array.tobytes()
    assert len(raw.pixels) == array.size


def test_non_contiguous_array_is_sent_without_padding() -> None:
    big = np.arange(6 * 10 * 3, dtype=np.uint8).reshape(6, 10, 3)
    view = big[1:4, 2:7]  # strided: rows are 30 bytes apart in memory
    raw = to_image(view).raw
    assert (raw.width, raw.height) == (5, 3)
    restored = np.frombuffer(raw.pixels, dtype=np.uint8).reshape(3, 5, 3)
    np.testing.assert_array_equal(restored, view)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((3, 5), dtype=np.float32), "uint8"),
        (np.zeros((3, 5, 2), dtype=np.uint8), "HxW"),
        (np.zeros((2, 3, 5, 3), dtype=np.uint8), "HxW"),
        (np.zeros((0, 5, 3), dtype=np.uint8), "empty"),
    ],
)
def test_unusable_arrays_are_refused(array: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        to_image(array)


@pytest.mark.parametrize(
    ("mode", "expected_order", "channels"),
    [
        ("RGB", ocr_pb2.CHANNEL_ORDER_RGB, 3),
        ("L", ocr_pb2.CHANNEL_ORDER_GRAY, 1),
        ("RGBA", ocr_pb2.CHANNEL_ORDER_RGBA, 4),
        ("LA", ocr_pb2.CHANNEL_ORDER_RGBA, 4),  # has alpha: kept
        ("CMYK", ocr_pb2.CHANNEL_ORDER_RGB, 3),
        ("P", ocr_pb2.CHANNEL_ORDER_RGB, 3),
    ],
)
def test_pil_images_become_raw_pixels(mode: str, expected_order: int, channels: int) -> None:
    pil = PILImage.new(mode, (4, 2))
    raw = to_image(pil, id="p").raw
    assert (raw.width, raw.height, raw.channel_order) == (4, 2, expected_order)
    assert len(raw.pixels) == 4 * 2 * channels


def test_pil_rgb_pixels_keep_their_values() -> None:
    pil = PILImage.new("RGB", (2, 1), (1, 2, 3))
    assert to_image(pil).raw.pixels == bytes([1, 2, 3, 1, 2, 3])


def test_palette_image_with_transparency_keeps_alpha() -> None:
    pil = PILImage.new("P", (2, 2))
    pil.info["transparency"] = 0
    assert to_image(pil).raw.channel_order == ocr_pb2.CHANNEL_ORDER_RGBA


def test_proto_image_is_copied_and_id_overridden() -> None:
    original = ocr_pb2.Image(encoded=b"abc", id="a")
    image = to_image(original, id="b")
    assert (image.encoded, image.id, original.id) == (b"abc", "b", "a")


@pytest.mark.parametrize("obj", [42, 1.5, {"a": 1}, [b"abc"], None])
def test_unsupported_objects_raise_type_error(obj: object) -> None:
    with pytest.raises(TypeError, match="unsupported image type"):
        to_image(obj)


def test_bad_channel_order_is_refused() -> None:
    with pytest.raises(ValueError, match="channel_order"):
        to_image(b"abc", channel_order="bgra")  # type: ignore[arg-type]


@pytest.mark.parametrize("single", ["page.png", b"abc", Path("page.png"),
                                    np.zeros((2, 2), np.uint8)])
def test_a_single_image_is_not_iterated_as_a_list(single: object) -> None:
    with pytest.raises(TypeError, match="list of images"):
        to_images(single)  # type: ignore[arg-type]


def test_to_images_keeps_order(tmp_path: Path) -> None:
    path = _png(tmp_path)
    images = to_images([b"abc", path, np.zeros((2, 3), np.uint8)])
    assert [i.WhichOneof("source") for i in images] == ["encoded", "encoded", "raw"]
    assert images[1].id == str(path)


def test_a_module_another_thread_is_still_importing_is_no_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``ocr-client ocr --draw`` imports PIL on one thread while requests are built on
    others: for a moment ``PIL.Image`` is in sys.modules without its ``Image`` class,
    and checking an image against it raised AttributeError (seen with 14 files, -j 4)."""
    import sys
    import types

    monkeypatch.setitem(sys.modules, "PIL.Image", types.ModuleType("PIL.Image"))
    (image,) = to_images([b"\x89PNG not checked here"])
    assert image.encoded == b"\x89PNG not checked here"
