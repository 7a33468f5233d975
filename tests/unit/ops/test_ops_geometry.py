"""Reading order, crops and box overlap."""

from __future__ import annotations

import numpy as np
import pytest

from ocrserve.ops.geometry import (
    box_iou,
    crop_min_area_rect,
    crop_quad,
    min_area_quad,
    sort_order,
)


def _box(x: float, y: float, w: float = 50, h: float = 20) -> np.ndarray:
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float32)


def _sorted(boxes: list[np.ndarray]) -> list[list[float]]:
    """First corners of ``boxes`` in the order sort_order gives."""
    return [boxes[i][0].tolist() for i in sort_order(boxes)]


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, size=(120, 160, 3), dtype=np.uint8)


def test_sort_top_to_bottom_then_left_to_right() -> None:
    a, b, c, d = _box(200, 5), _box(10, 12), _box(100, 40), _box(5, 60)
    assert sort_order([d, c, a, b]) == [3, 2, 1, 0]
    assert _sorted([d, c, a, b]) == [[10, 12], [200, 5], [100, 40], [5, 60]]


def test_sort_tolerance_is_strictly_below_10_px() -> None:
    assert _sorted([_box(100, 0), _box(0, 10)]) == [[100, 0], [0, 10]]  # 10 px: two lines
    assert _sorted([_box(100, 0), _box(0, 9.5)]) == [[0, 9.5], [100, 0]]


def test_sort_keeps_paddleocrs_single_pass() -> None:
    # B moves before A (same line); C is 16 px below A, so it stays last even though it is
    # within 10 px of B: the pass compares neighbours only.
    a, b, c = _box(100, 0), _box(0, 8), _box(50, 16)
    assert _sorted([a, b, c]) == [[0, 8], [100, 0], [50, 16]]


def test_crop_of_an_axis_aligned_quad_is_the_region(image: np.ndarray) -> None:
    crop = crop_quad(image, _box(30, 40, 60, 25))
    assert crop.shape == (25, 60, 3)
    np.testing.assert_array_equal(crop, image[40:65, 30:90])


def test_tall_crops_are_rotated_counter_clockwise(image: np.ndarray) -> None:
    crop = crop_quad(image, _box(30, 40, 10, 15))  # h / w == 1.5
    assert crop.shape == (10, 15, 3) and crop.flags.c_contiguous
    np.testing.assert_array_equal(crop, np.rot90(image[40:55, 30:40]))
    assert crop_quad(image, _box(30, 40, 10, 14)).shape == (14, 10, 3)


def test_min_area_quad_orders_corners_from_top_left() -> None:
    diamond_ish = np.array([[10, 30], [40, 10], [60, 40], [30, 60]], np.int32)
    quad, short_side = min_area_quad(diamond_ish)
    assert quad.dtype == np.float32
    np.testing.assert_allclose(quad, [[10, 30], [40, 10], [60, 40], [30, 60]], atol=1e-4)
    assert short_side == pytest.approx(np.hypot(30, 20))


def test_min_area_rect_crop_of_a_polygon(image: np.ndarray) -> None:
    # extra points on the edges do not change the rectangle
    poly = np.array([[30, 40], [60, 40], [90, 40], [90, 65], [30, 65], [30, 50]], np.int64)
    np.testing.assert_array_equal(crop_min_area_rect(image, poly), image[40:65, 30:90])


def test_box_iou() -> None:
    square = _box(0, 0, 10, 10)
    assert box_iou(square, square) == 1.0
    assert box_iou(square, _box(20, 20, 10, 10)) == 0.0
    assert box_iou(square, _box(5, 0, 10, 10)) == pytest.approx(1 / 3)
    l_shape = np.array([[0, 0], [10, 0], [10, 5], [5, 5], [5, 10], [0, 10]])
    assert box_iou(l_shape, square) == pytest.approx(75 / 100)
    assert box_iou(l_shape, _box(5, 5, 5, 5)) == 0.0
