"""DB detection pre- and post-processing on synthetic images and probability maps."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ocrserve.errors import InvalidInput, ModelError
from ocrserve.ops.det import (
    DetParams,
    db_postprocess,
    det_normalize,
    det_preprocess,
    det_resize,
    filter_det_boxes,
    order_points_clockwise,
    polygon_area_length,
)


def _map(shape: tuple[int, int], *rects: tuple[int, int, int, int, float]) -> np.ndarray:
    """A probability map of zeros with filled rectangles (x0, y0, x1, y1 inclusive, value)."""
    prob = np.zeros(shape, dtype=np.float32)
    for x0, y0, x1, y1, value in rects:
        prob[y0 : y1 + 1, x0 : x1 + 1] = value
    return prob


# ------------------------------------------------------------------------------- params


def test_defaults_are_paddleocr_inference_defaults() -> None:
    params = DetParams()
    assert (params.limit_side_len, params.limit_type, params.thresh, params.box_thresh,
            params.unclip_ratio, params.max_candidates, params.score_mode, params.use_dilation,
            params.box_type) == (960, "max", 0.3, 0.6, 1.5, 1000, "fast", False, "quad")
    params.validate()


@pytest.mark.parametrize(
    "change",
    [
        {"limit_side_len": 0}, {"limit_type": "avg"}, {"thresh": 1.5}, {"box_thresh": -0.1},
        {"unclip_ratio": 0.0}, {"max_candidates": 0}, {"score_mode": "exact"},
        {"box_type": "circle"},
    ],
)
def test_invalid_params_raise_invalid_input(change: dict[str, object]) -> None:
    with pytest.raises(InvalidInput, match=next(iter(change))):
        replace(DetParams(), **change).validate()  # type: ignore[arg-type]


# ------------------------------------------------------------------------ pre-processing


@pytest.mark.parametrize(
    ("hw", "limit", "kind", "expected"),
    [
        ((720, 1280), 960, "max", (544, 960)),  # 540 rounds to 544
        ((500, 700), 960, "max", (512, 704)),  # no scaling, only rounding to 32
        ((10, 2000), 960, "max", (32, 960)),  # at least 32
        ((300, 400), 736, "min", (736, 992)),  # the short side grows to the limit
        ((100, 300), 640, "resize_long", (224, 640)),
        ((1000, 1500), 960, "resize_long", (640, 960)),
    ],
)
def test_det_resize_rounds_to_multiples_of_32(hw: tuple[int, int], limit: int, kind: str,
                                              expected: tuple[int, int]) -> None:
    img = np.zeros((*hw, 3), dtype=np.uint8)
    resized, ratio_h, ratio_w = det_resize(img, limit, kind)
    assert resized.shape == (*expected, 3)
    assert (ratio_h, ratio_w) == (expected[0] / hw[0], expected[1] / hw[1])


def test_tiny_images_are_zero_padded_to_32_first() -> None:
    img = np.full((20, 30, 3), 200, dtype=np.uint8)
    resized, ratio_h, ratio_w = det_resize(img, 960, "max")
    assert resized.shape == (32, 32, 3) and (ratio_h, ratio_w) == (1.0, 1.0)
    assert (resized[:20, :30] == 200).all() and (resized[20:] == 0).all()


def test_det_normalize_is_imagenet_on_bgr_over_255() -> None:
    img = np.zeros((2, 3, 3), dtype=np.uint8)
    img[1, 2] = (255, 128, 0)
    chw = det_normalize(img)
    assert chw.shape == (3, 2, 3) and chw.dtype == np.float32 and chw.flags.c_contiguous
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    for c, value in enumerate((255, 128, 0)):
        assert chw[c, 1, 2] == pytest.approx((value / 255 - mean[c]) / std[c], abs=1e-6)
        assert chw[c, 0, 0] == pytest.approx(-mean[c] / std[c], abs=1e-6)


def test_det_preprocess_reports_source_shape_and_ratios() -> None:
    chw, info = det_preprocess(np.zeros((720, 1280, 3), np.uint8), DetParams())
    assert chw.shape == (3, 544, 960)
    assert info == (720, 1280, 544 / 720, 960 / 1280)


# ----------------------------------------------------------------------- post-processing


def test_rectangle_becomes_its_unclipped_box() -> None:
    # contour through pixel centres 20..60 × 30..40: area 400, perimeter 100,
    # so the offset is 400 * 1.5 / 100 = 6 px on every side
    prob = _map((100, 120), (20, 30, 60, 40, 1.0))
    boxes, scores = db_postprocess(prob, (100, 120, 1.0, 1.0), DetParams())
    assert len(boxes) == 1 and boxes[0].dtype == np.int32
    assert boxes[0].tolist() == [[14, 24], [66, 24], [66, 46], [14, 46]]
    assert scores == [pytest.approx(1.0)]


def test_boxes_are_rescaled_to_the_source_and_clipped() -> None:
    prob = _map((100, 120), (2, 30, 60, 40, 1.0))  # the unclipped box leaves the map
    boxes, _ = db_postprocess(prob, (200, 360, 1.0, 1.0), DetParams())
    # x: -4..66 -> ×3 -> clipped at 0; y: 24..46 -> ×2
    assert boxes[0].tolist() == [[0, 48], [198, 48], [198, 92], [0, 92]]


def test_low_scores_and_tiny_blobs_are_dropped() -> None:
    prob = _map((100, 120), (10, 10, 50, 20, 0.5), (80, 80, 81, 81, 1.0), (10, 60, 50, 70, 0.9))
    boxes, scores = db_postprocess(prob, (100, 120, 1.0, 1.0), DetParams())
    assert len(boxes) == 1 and scores == [pytest.approx(0.9)]
    boxes, _ = db_postprocess(prob, (100, 120, 1.0, 1.0), DetParams(box_thresh=0.4))
    assert len(boxes) == 2  # the 2×2 blob stays too small at any threshold


def test_max_candidates_limits_contours() -> None:
    prob = _map((100, 120), (10, 10, 50, 20, 1.0), (10, 60, 50, 70, 1.0))
    assert len(db_postprocess(prob, (100, 120, 1.0, 1.0), DetParams())[0]) == 2
    assert len(db_postprocess(prob, (100, 120, 1.0, 1.0), DetParams(max_candidates=1))[0]) == 1


def test_dilation_merges_blobs_one_pixel_apart() -> None:
    prob = _map((60, 120), (10, 20, 40, 30, 1.0), (42, 20, 80, 30, 1.0))
    assert len(db_postprocess(prob, (60, 120, 1.0, 1.0), DetParams())[0]) == 2
    merged, _ = db_postprocess(prob, (60, 120, 1.0, 1.0), DetParams(use_dilation=True))
    assert len(merged) == 1


def test_slow_score_follows_the_contour() -> None:
    prob = np.zeros((80, 80), dtype=np.float32)
    for y in range(10, 60):  # a right triangle: its bounding rectangle is half empty
        prob[y, 10 : 10 + (y - 10) + 1] = 1.0
    params = DetParams(box_thresh=0.0)
    (_, [fast]) = db_postprocess(prob, (80, 80, 1.0, 1.0), params)
    (_, [slow]) = db_postprocess(prob, (80, 80, 1.0, 1.0), replace(params, score_mode="slow"))
    assert fast < 0.75 < slow == pytest.approx(1.0)


def test_poly_boxes_enclose_the_region() -> None:
    prob = _map((100, 120), (20, 30, 60, 40, 1.0))
    boxes, scores = db_postprocess(prob, (100, 120, 1.0, 1.0), DetParams(box_type="poly"))
    assert len(boxes) == 1 and boxes[0].dtype == np.int64 and len(boxes[0]) >= 4
    xs, ys = boxes[0][:, 0], boxes[0][:, 1]
    assert (xs.min(), ys.min(), xs.max(), ys.max()) == (14, 24, 66, 46)
    assert scores == [pytest.approx(1.0)]


def test_prob_map_must_be_two_dimensional() -> None:
    with pytest.raises(ModelError):
        db_postprocess(np.zeros((1, 10, 10), np.float32), (10, 10, 1.0, 1.0), DetParams())


def test_polygon_area_and_length() -> None:
    assert polygon_area_length(np.array([[0, 0], [10, 0], [10, 10], [0, 10]])) == (100.0, 40.0)
    area, length = polygon_area_length(np.array([[0, 0], [4, 0], [0, 3]], np.float32))
    assert (area, length) == (6.0, 12.0)


# ------------------------------------------------------------------------------ filtering


def test_order_points_clockwise_from_top_left() -> None:
    shuffled = np.array([[50, 40], [10, 10], [10, 40], [50, 10]])
    assert order_points_clockwise(shuffled).tolist() == [[10, 10], [50, 10], [50, 40], [10, 40]]


def _reference_order(pts: np.ndarray) -> np.ndarray:
    """PaddleOCR's order_points_clockwise, numpy as it is written there."""
    rect = np.zeros((4, 2), dtype=np.float32)
    s = pts.sum(axis=1)
    rect[0], rect[2] = pts[np.argmin(s)], pts[np.argmax(s)]
    rest = np.delete(pts, (np.argmin(s), np.argmax(s)), axis=0)
    diff = np.diff(np.array(rest), axis=1)
    rect[1], rect[3] = rest[np.argmin(diff)], rest[np.argmax(diff)]
    return rect


@pytest.mark.parametrize("dtype", [np.int32, np.float32])
def test_order_points_clockwise_picks_as_argmin_and_argmax_do(dtype: type) -> None:
    """Ties included: small coordinates make equal sums and differences common, and a
    quad of one repeated point makes the first minimum and maximum the same corner."""
    rng = np.random.default_rng(7)
    quads = [rng.integers(0, 4, (4, 2)).astype(dtype) for _ in range(500)]
    quads.append(np.full((4, 2), 3, dtype))
    for quad in quads:
        assert order_points_clockwise(quad).tolist() == _reference_order(quad).tolist()


def test_filter_orders_clips_and_drops_thin_boxes() -> None:
    boxes = [
        np.array([[60, 5], [95, 5], [95, -3], [60, -3]], np.int32),  # clipped at y=0, 35×5
        np.array([[10, 10], [14, 10], [14, 50], [10, 50]], np.int32),  # 4 wide: kept
        np.array([[10, 60], [13, 60], [13, 90], [10, 90]], np.int32),  # 3 wide: dropped
        np.array([[80, 70], [130, 70], [130, 99], [80, 99]], np.int32),  # clipped to 99, 79
    ]
    kept, scores = filter_det_boxes(boxes, [0.1, 0.2, 0.3, 0.4], 80, 100)
    assert scores == [0.1, 0.2, 0.4]  # scores follow their boxes
    assert all(b.dtype == np.float32 for b in kept)
    assert [b.tolist() for b in kept] == [
        [[60, 0], [95, 0], [95, 5], [60, 5]],
        [[10, 10], [14, 10], [14, 50], [10, 50]],
        [[80, 70], [99, 70], [99, 79], [80, 79]],
    ]


def test_filter_poly_clips_and_pads_to_the_longest() -> None:
    polys = [np.array([[-5, 0], [20, 0], [20, 10], [0, 10]], np.int64),
             np.array([[0, 0], [5, 0], [8, 3], [5, 200], [0, 5], [0, 2]], np.int64)]
    kept, _ = filter_det_boxes(polys, [0.7, 0.8], 100, 100, box_type="poly")
    assert [len(p) for p in kept] == [6, 6]
    assert kept[0].tolist() == [[0, 0], [20, 0], [20, 10], [0, 10], [0, 10], [0, 10]]
    assert kept[1][3].tolist() == [5, 99]


@pytest.mark.parametrize(("shape", "limit", "limit_type"), [
    ((600, 800), 960, "max"), ((2000, 3000), 960, "max"), ((100, 100), 736, "min"),
    ((40, 2000), 960, "min"), ((10, 20), 960, "max"), ((3, 5), 64, "resize_long"),
    ((1200, 480), 1280, "resize_long"),
])
def test_det_input_size_is_what_det_resize_makes(shape: tuple[int, int], limit: int,
                                                 limit_type: str) -> None:
    from ocrserve.ops.det import det_input_size, det_resize

    img = np.zeros((*shape, 3), np.uint8)
    resized, _, _ = det_resize(img, limit, limit_type)
    assert det_input_size(*shape, limit, limit_type) == resized.shape[:2]
