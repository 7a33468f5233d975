"""Lookup-table normalisation is bit-identical to the float32 arithmetic it replaced.

The expected values are computed here the way ops/det.py and ops/rec.py computed them
before the tables (PaddleOCR's NormalizeImage + ToCHWImage, and resize_norm_img's scaling),
and compared as raw float32 bits: every uint8 value in every channel, then a real page.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ocrserve.ops.det import det_normalize, det_resize
from ocrserve.ops.image import decode_image
from ocrserve.ops.lookup import lookup_chw, value_tables
from ocrserve.ops.rec import rec_input, rec_normalize


def _det_arithmetic(img: np.ndarray) -> np.ndarray:
    mean = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(1, 1, 3)
    std = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(1, 1, 3)
    normalized = (img.astype(np.float32) * np.float32(1.0 / 255.0) - mean) / std
    return np.ascontiguousarray(normalized.transpose(2, 0, 1))


def _rec_arithmetic(img: np.ndarray) -> np.ndarray:
    chw = img.astype(np.float32).transpose(2, 0, 1) / 255
    chw -= 0.5
    chw /= 0.5
    return chw


def _assert_same_bits(got: np.ndarray, expected: np.ndarray) -> None:
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32))


def _every_value_image() -> np.ndarray:
    """16x16 BGR holding each uint8 value once per channel, shifted per channel so that
    a table applied to the wrong channel gives a different value."""
    ramp = np.arange(256, dtype=np.uint16).reshape(16, 16)
    return np.stack([(ramp + 85 * c) % 256 for c in range(3)], axis=2).astype(np.uint8)


def test_det_normalize_matches_arithmetic_for_every_value_and_channel() -> None:
    img = _every_value_image()
    _assert_same_bits(det_normalize(img), _det_arithmetic(img))


def test_rec_normalize_matches_arithmetic_for_every_value_and_channel() -> None:
    img = _every_value_image()
    # height 16 and max width 16: the crop is not resized, so every value reaches the tables
    _assert_same_bits(np.ascontiguousarray(rec_normalize(rec_input(img, 16, 16))),
                      _rec_arithmetic(img))


def test_normalizing_a_real_page_is_bit_identical(sign: Path) -> None:
    page = decode_image(sign.read_bytes())
    resized, _, _ = det_resize(page, 960, "max")
    _assert_same_bits(det_normalize(resized), _det_arithmetic(resized))
    crop = page[100:148, 50:400]
    expected = _rec_arithmetic(cv2.resize(crop, (350, 48)))
    _assert_same_bits(np.ascontiguousarray(rec_normalize(rec_input(crop, 48, 350))), expected)


def test_value_tables_hold_each_channel_in_a_row() -> None:
    tables = value_tables(lambda img: img.astype(np.float32) * np.float32([1, 2, 3]))
    assert tables.shape == (3, 256) and tables.flags.c_contiguous
    np.testing.assert_array_equal(tables[2], np.arange(256, dtype=np.float32) * 3)


def test_value_tables_refuse_a_non_float32_expression() -> None:
    with pytest.raises(ValueError, match="float32"):
        value_tables(lambda img: img.astype(np.float64))


def test_lookup_chw_refuses_an_image_of_other_channels() -> None:
    tables = value_tables(lambda img: img.astype(np.float32))
    with pytest.raises(ValueError, match="uint8 image"):
        lookup_chw(np.zeros((4, 4, 4), np.uint8), tables)
