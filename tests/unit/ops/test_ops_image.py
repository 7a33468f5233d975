"""Image decoding: every input becomes BGR uint8 (H, W, 3) or a clear InvalidInput."""

from __future__ import annotations

import tracemalloc

import cv2
import numpy as np
import pytest

from ocrserve.errors import InvalidInput
from ocrserve.ops.image import (
    CONVERT_BLOCK_PIXELS,
    _to_uint8,
    composite_over_white,
    decode_image,
    from_pixels,
)


def _encode(ext: str, img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


@pytest.fixture
def bgr() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(7, 9, 3), dtype=np.uint8)


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tiff", ".webp"])
def test_lossless_formats_round_trip(ext: str, bgr: np.ndarray) -> None:
    params = [cv2.IMWRITE_WEBP_QUALITY, 101] if ext == ".webp" else []
    ok, buf = cv2.imencode(ext, bgr, params)
    assert ok
    out = decode_image(buf.tobytes())
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, bgr)


def test_jpeg_decodes_to_three_channels(bgr: np.ndarray) -> None:
    out = decode_image(_encode(".jpg", bgr))
    assert out.shape == (7, 9, 3) and out.dtype == np.uint8


def test_grayscale_is_replicated_to_bgr() -> None:
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    out = decode_image(_encode(".png", gray))
    assert out.shape == (3, 4, 3)
    for channel in range(3):
        np.testing.assert_array_equal(out[:, :, channel], gray)


def test_alpha_is_composited_over_white() -> None:
    bgra = np.zeros((1, 3, 4), dtype=np.uint8)
    bgra[0, :, :3] = (10, 20, 30)
    bgra[0, :, 3] = (0, 255, 128)
    out = decode_image(_encode(".png", bgra))
    assert out.shape == (1, 3, 3)
    assert out[0, 0].tolist() == [255, 255, 255]  # transparent: background
    assert out[0, 1].tolist() == [10, 20, 30]  # opaque: the colour
    # half transparent: 255 * (1 - a) + c * a, rounded down
    alpha = 128 / 255
    assert out[0, 2].tolist() == [int(255 * (1 - alpha) + c * alpha) for c in (10, 20, 30)]


def test_alpha_blocks_give_the_whole_image_formula() -> None:
    # 7 rows of 100_000 pixels: several blocks of CONVERT_BLOCK_PIXELS, the last one short
    bgra = np.random.default_rng(1).integers(0, 256, size=(7, 100_000, 4), dtype=np.uint8)
    alpha = bgra[:, :, 3:4] / 255
    whole = (255 * (1 - alpha) + bgra[:, :, :3] * alpha).astype(np.uint8)
    np.testing.assert_array_equal(composite_over_white(bgra), whole)


def test_converting_a_large_image_takes_block_sized_temporaries() -> None:
    """Converted whole, the float64 compositing took ~60 bytes a pixel (244 MB here),
    and a small PNG may declare 7000x7000 pixels of one colour."""
    bgra = np.random.default_rng(2).integers(0, 256, size=(2000, 2000, 4), dtype=np.uint8)
    floats = np.random.default_rng(3).random((2000, 2000, 3), dtype=np.float32)
    for convert, image in ((composite_over_white, bgra), (_to_uint8, floats)):
        tracemalloc.start()
        try:
            out = convert(image)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        temporaries = peak - out.nbytes
        assert temporaries < 80 * CONVERT_BLOCK_PIXELS, (convert.__name__, temporaries)


def test_16_bit_keeps_the_high_byte() -> None:
    img16 = np.full((2, 2, 3), 40000, dtype=np.uint16)
    img16[0, 0] = (65535, 0, 256)
    out = decode_image(_encode(".png", img16))
    assert out.dtype == np.uint8
    assert out[0, 0].tolist() == [255, 0, 1]
    assert out[1, 1].tolist() == [156, 156, 156]


def test_16_bit_grayscale() -> None:
    out = decode_image(_encode(".png", np.full((2, 3), 512, dtype=np.uint16)))
    assert out.shape == (2, 3, 3) and (out == 2).all()


def test_float_tiff_is_read_as_zero_to_one() -> None:
    img = np.zeros((2, 2, 3), dtype=np.float32)
    img[0, 0] = (0.5, 2.0, -1.0)
    out = decode_image(_encode(".tiff", img))
    assert out.dtype == np.uint8
    # OpenCV 4 stores float TIFF lossily (LogLuv), so mid-grey comes back only near 128
    assert abs(int(out[0, 0, 0]) - 128) <= 3 and out[0, 0, 1:].tolist() == [255, 0]
    assert out[1, 1].tolist() == [0, 0, 0]


@pytest.mark.parametrize("data", [b"", b"not an image at all", _encode(".png", np.zeros((4, 4),
                                                                                      np.uint8))[:20]])
def test_undecodable_data_is_invalid_input(data: bytes) -> None:
    with pytest.raises(InvalidInput, match="image"):
        decode_image(data)


def test_from_pixels_orders(bgr: np.ndarray) -> None:
    h, w = bgr.shape[:2]
    np.testing.assert_array_equal(from_pixels(bgr.tobytes(), h, w, 3, "BGR"), bgr)
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    np.testing.assert_array_equal(from_pixels(rgb.tobytes(), h, w, 3, "RGB"), bgr)
    gray = bgr[:, :, 0].copy()
    out = from_pixels(gray.tobytes(), h, w, 1, "GRAY")
    np.testing.assert_array_equal(out, np.dstack([gray] * 3))


def test_from_pixels_alpha(bgr: np.ndarray) -> None:
    h, w = bgr.shape[:2]
    opaque = np.dstack([bgr, np.full((h, w), 255, np.uint8)])
    np.testing.assert_array_equal(from_pixels(opaque.tobytes(), h, w, 4, "BGRA"), bgr)
    rgba = np.dstack([bgr[:, :, ::-1], np.full((h, w), 255, np.uint8)])
    np.testing.assert_array_equal(from_pixels(rgba.tobytes(), h, w, 4, "RGBA"), bgr)
    clear = np.zeros((h, w, 4), np.uint8)
    assert (from_pixels(clear.tobytes(), h, w, 4, "RGBA") == 255).all()


@pytest.mark.parametrize(
    ("size", "height", "width", "channels", "order", "message"),
    [
        (11, 2, 2, 3, "BGR", "expected 2x2x3"),
        (12, 2, 2, 3, "XYZ", "unknown pixel order"),
        (12, 2, 2, 4, "BGR", "has 3 channels"),
        (0, 0, 2, 3, "BGR", "positive"),
    ],
)
def test_from_pixels_rejects_bad_sizes(size: int, height: int, width: int, channels: int,
                                       order: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        from_pixels(bytes(size), height, width, channels, order)
