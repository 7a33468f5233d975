"""DB text detection: pre-processing and post-processing as PaddleOCR 2.8.1 does them.

Pre-processing is DetResizeForTest (type 0) + NormalizeImage + ToCHWImage; post-processing is
DBPostProcess followed by TextDetector.filter_tag_det_res(_only_clip).  Arithmetic follows the
reference's dtypes step by step (float32 where it computes in float32), so boxes match exactly.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import pyclipper

from ocrserve.errors import InvalidInput, ModelError, Reason
from ocrserve.ops.geometry import min_area_quad
from ocrserve.ops.lookup import lookup_chw, value_tables

LIMIT_TYPES = ("max", "min", "resize_long")
SCORE_MODES = ("fast", "slow")
BOX_TYPES = ("quad", "poly")

#: the network downsamples by 32: input sides must be multiples of it
STRIDE = 32
#: candidates whose rectangle's short side is below this are noise (DBPostProcess.min_size)
MIN_SIZE = 3
#: boxes whose clipped width or height is at most this are dropped (filter_tag_det_res)
MIN_BOX_SIDE = 3

_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(1, 1, 3)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(1, 1, 3)
_SCALE = np.float32(1.0 / 255.0)
_DILATION_KERNEL = np.ones((2, 2), dtype=np.uint8)

#: (src_h, src_w, ratio_h, ratio_w): the source size and the resize ratios applied to it
ShapeInfo = tuple[int, int, float, float]


@dataclass(frozen=True)
class DetParams:
    """DB detection knobs; defaults are PaddleOCR's inference defaults."""

    limit_side_len: int = 960
    limit_type: str = "max"
    thresh: float = 0.3
    box_thresh: float = 0.6
    unclip_ratio: float = 1.5
    max_candidates: int = 1000
    score_mode: str = "fast"
    use_dilation: bool = False
    box_type: str = "quad"

    def validate(self, prefix: str = "", *, max_side_len: int | None = None,
                 max_candidates: int | None = None) -> None:
        """Raise InvalidInput naming the first field that is out of range.

        These ranges are the API's (``ocr.v1.DetectionParams``) and the config's:
        ``prefix`` places the field in the caller's terms (``detection.``).  The
        server's limits cap the two sizes: ``limit_side_len`` by the detector input's
        longest side, ``max_candidates`` by the crops allowed per image.
        """
        _in_range(prefix, "limit_side_len", self.limit_side_len, 1, max_side_len,
                  _at_least_one(max_side_len))
        _one_of(prefix, "limit_type", self.limit_type, LIMIT_TYPES)
        _in_range(prefix, "thresh", self.thresh, 0.0, 1.0, "in [0, 1]")
        _in_range(prefix, "box_thresh", self.box_thresh, 0.0, 1.0, "in [0, 1]")
        _in_range(prefix, "unclip_ratio", self.unclip_ratio, 0.0, 10.0, "in (0, 10]",
                  low_open=True)
        _in_range(prefix, "max_candidates", self.max_candidates, 1, max_candidates,
                  _at_least_one(max_candidates))
        _one_of(prefix, "score_mode", self.score_mode, SCORE_MODES)
        _one_of(prefix, "box_type", self.box_type, BOX_TYPES)


def _at_least_one(high: int | None) -> str:
    return ">= 1" if high is None else f"in [1, {high}]"


def _in_range(prefix: str, name: str, value: float, low: float, high: float | None,
              shown: str, *, low_open: bool = False) -> None:
    too_low = value <= low if low_open else value < low
    if too_low or (high is not None and value > high) or value != value:  # NaN
        got = f"{value:g}" if isinstance(value, float) else str(value)
        raise InvalidInput(f"{prefix}{name} must be {shown}, got {got}",
                           reason=Reason.PARAMETER_OUT_OF_RANGE, field=prefix + name,
                           metadata={"field": prefix + name, "value": got,
                                     "limit": shown.removeprefix("in ")})


def _one_of(prefix: str, name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise InvalidInput(f"{prefix}{name} must be one of {', '.join(allowed)}, got {value!r}",
                           field=prefix + name,
                           metadata={"field": prefix + name, "value": value})


# --------------------------------------------------------------------------- pre-processing


def det_resize(
    img: np.ndarray, limit_side_len: int, limit_type: str
) -> tuple[np.ndarray, float, float]:
    """Resize so the limited side fits and both sides are multiples of STRIDE (>= STRIDE).

    Images whose height + width is below 64 are first zero-padded at the bottom/right to at
    least 32×32; the ratios are then relative to the padded size, as in DetResizeForTest.
    """
    if img.shape[0] + img.shape[1] < 2 * STRIDE:
        img = _pad_to_stride(img)
    h, w = img.shape[:2]
    resize_h, resize_w = det_input_size(h, w, limit_side_len, limit_type)
    resized = cv2.resize(img, (resize_w, resize_h))
    return resized, resize_h / float(h), resize_w / float(w)


def det_input_size(height: int, width: int, limit_side_len: int,
                   limit_type: str) -> tuple[int, int]:
    """(height, width) of the detector input for an image of this size, as det_resize
    makes it: cheap, so the server can refuse a request before it allocates anything."""
    if height + width < 2 * STRIDE:
        height, width = max(STRIDE, height), max(STRIDE, width)
    ratio = _limit_ratio(height, width, limit_side_len, limit_type)
    return (max(int(round(int(height * ratio) / STRIDE) * STRIDE), STRIDE),
            max(int(round(int(width * ratio) / STRIDE) * STRIDE), STRIDE))


def imagenet_normalize(img: np.ndarray) -> np.ndarray:
    """NormalizeImage's float32 arithmetic on a BGR uint8 (H, W, 3) image, in HWC: the
    definition :data:`DET_TABLES` tabulates."""
    normalized: np.ndarray = (img.astype(np.float32) * _SCALE - _MEAN) / _STD
    return normalized


#: imagenet_normalize of each uint8 value per channel (see ocrserve.ops.lookup)
DET_TABLES = value_tables(imagenet_normalize)


def det_normalize(img: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """BGR uint8 (H, W, 3) -> CHW float32 ``(x / 255 - mean) / std`` with ImageNet statistics:
    :func:`imagenet_normalize` transposed, bit for bit, through lookup tables (into ``out``
    when given, see :func:`ocrserve.ops.lookup.lookup_chw`)."""
    return lookup_chw(img, DET_TABLES, out)


def det_prepare(img: np.ndarray, params: DetParams) -> tuple[np.ndarray, ShapeInfo]:
    """The detector's input before normalisation (BGR uint8 HWC, sides multiples of 32) and
    the shape info db_postprocess needs.

    This, not the float32 tensor, is what the front-end sends the engine: a quarter of the
    bytes to copy (1.6 MB instead of 6.3 MB for a 720p page), and the engine's det shaper
    normalises it straight into the batch (:func:`det_normalize`, the same tables)."""
    resized, ratio_h, ratio_w = det_resize(img, params.limit_side_len, params.limit_type)
    return resized, (img.shape[0], img.shape[1], ratio_h, ratio_w)


def det_preprocess(img: np.ndarray, params: DetParams) -> tuple[np.ndarray, ShapeInfo]:
    """The detector's input (CHW float32) and the shape info db_postprocess needs:
    :func:`det_prepare` then :func:`det_normalize`, as PaddleOCR's pre-processing does."""
    resized, shape_info = det_prepare(img, params)
    return det_normalize(resized), shape_info


def _pad_to_stride(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    padded = np.zeros((max(STRIDE, h), max(STRIDE, w), *img.shape[2:]), dtype=np.uint8)
    padded[:h, :w] = img
    return padded


def _limit_ratio(h: int, w: int, limit_side_len: int, limit_type: str) -> float:
    if limit_type == "max":
        return float(limit_side_len) / (h if h > w else w) if max(h, w) > limit_side_len else 1.0
    if limit_type == "min":
        return float(limit_side_len) / (h if h < w else w) if min(h, w) < limit_side_len else 1.0
    if limit_type == "resize_long":
        return float(limit_side_len) / max(h, w)
    raise InvalidInput(f"limit_type must be one of {LIMIT_TYPES}, got {limit_type!r}")


# -------------------------------------------------------------------------- post-processing


def db_postprocess(prob: np.ndarray, shape_info: ShapeInfo,
                   params: DetParams) -> tuple[list[np.ndarray], list[float]]:
    """Boxes and their mean probabilities from one DB probability map (H×W).

    Quads come back as int32 4×2 arrays, polygons (box_type "poly") as int64 P×2 arrays, in
    source-image pixels clipped to [0, src_w] × [0, src_h].  Pass them to filter_det_boxes.
    """
    prob = np.asarray(prob, dtype=np.float32)
    if prob.ndim != 2:
        raise ModelError(f"detector map must be H×W, got shape {prob.shape}")
    src_h, src_w = int(shape_info[0]), int(shape_info[1])
    mask = _binarize(prob, params.thresh, params.use_dilation)
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    contours = contours[: params.max_candidates]
    if params.box_type == "poly":
        return _polygons(prob, contours, src_w, src_h, params)
    return _quads(prob, contours, src_w, src_h, params)


def _binarize(prob: np.ndarray, thresh: float, use_dilation: bool) -> np.ndarray:
    mask: np.ndarray = (prob > np.float32(thresh)).astype(np.uint8)
    if use_dilation:
        mask = cv2.dilate(mask, _DILATION_KERNEL)
    return mask * np.uint8(255)


def _quads(prob: np.ndarray, contours: Sequence[np.ndarray], dest_w: int, dest_h: int,
           params: DetParams) -> tuple[list[np.ndarray], list[float]]:
    boxes: list[np.ndarray] = []
    scores: list[float] = []
    for contour in contours:
        quad, short_side = min_area_quad(contour)
        if short_side < MIN_SIZE:
            continue
        scored = quad if params.score_mode == "fast" else contour.reshape(-1, 2)
        score = _mean_score(prob, scored)
        if params.box_thresh > score:
            continue
        expanded = _unclip(quad, params.unclip_ratio)
        if len(expanded) != 1:
            continue
        quad, short_side = min_area_quad(np.array(expanded[0]))
        if short_side < MIN_SIZE + 2:
            continue
        boxes.append(_rescale_quad(quad, prob.shape, dest_w, dest_h))
        scores.append(score)
    return boxes, scores


def _polygons(prob: np.ndarray, contours: Sequence[np.ndarray], dest_w: int, dest_h: int,
              params: DetParams) -> tuple[list[np.ndarray], list[float]]:
    boxes: list[np.ndarray] = []
    scores: list[float] = []
    for contour in contours:
        epsilon = 0.002 * cv2.arcLength(contour, True)
        points = cv2.approxPolyDP(contour, epsilon, True).reshape(-1, 2)
        if points.shape[0] < 4:
            continue
        score = _mean_score(prob, points)
        if params.box_thresh > score:
            continue
        expanded = _unclip(points, params.unclip_ratio)
        if len(expanded) != 1:
            continue
        poly = np.array(expanded[0], dtype=np.int64).reshape(-1, 2)
        if min_area_quad(poly)[1] < MIN_SIZE + 2:
            continue
        boxes.append(_rescale_poly(poly, prob.shape, dest_w, dest_h))
        scores.append(score)
    return boxes, scores


def _mean_score(prob: np.ndarray, points: np.ndarray) -> float:
    """Mean of ``prob`` inside the polygon (box_score_fast; box_score_slow on a contour).

    The polygon is shifted to its clipped bounding box and truncated to int as the reference
    does; for integer contours this is exactly box_score_slow.
    """
    h, w = prob.shape
    xmin = min(max(math.floor(points[:, 0].min()), 0), w - 1)
    xmax = min(max(math.ceil(points[:, 0].max()), 0), w - 1)
    ymin = min(max(math.floor(points[:, 1].min()), 0), h - 1)
    ymax = min(max(math.ceil(points[:, 1].max()), 0), h - 1)
    mask = np.zeros((ymax - ymin + 1, xmax - xmin + 1), dtype=np.uint8)
    shifted = points.copy()
    shifted[:, 0] = shifted[:, 0] - xmin
    shifted[:, 1] = shifted[:, 1] - ymin
    cv2.fillPoly(mask, [shifted.astype(np.int32)], (1,))
    return float(cv2.mean(prob[ymin : ymax + 1, xmin : xmax + 1], mask)[0])


def _unclip(points: np.ndarray, unclip_ratio: float) -> list[list[list[int]]]:
    """Grow the polygon by area * ratio / perimeter (the DB paper's offset), round joins."""
    area, length = polygon_area_length(points)
    distance = area * unclip_ratio / length
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(points, pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    expanded: list[list[list[int]]] = offset.Execute(distance)
    return expanded


def polygon_area_length(points: np.ndarray) -> tuple[float, float]:
    """Area and perimeter of a polygon, bit-identical to shapely's Polygon(points).area/.length.

    GEOS sums the shoelace terms relative to the first x, and the edge lengths, in order, in
    float64; so does this, one term at a time (math.sqrt and numpy's are both correctly
    rounded).  Plain Python: the polygons here have a handful of points, where numpy's
    per-call cost is most of the time.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2).tolist()
    if pts[0] != pts[-1]:
        pts.append(pts[0])
    x0 = pts[0][0]
    area = 0.0
    for (_, y_before), (x, _), (_, y_after) in zip(pts, pts[1:-1], pts[2:], strict=False):
        area += (x - x0) * (y_before - y_after)
    length = 0.0
    for (xa, ya), (xb, yb) in itertools.pairwise(pts):
        dx, dy = xb - xa, yb - ya
        length += math.sqrt(dx * dx + dy * dy)
    return abs(area / 2.0), length


def _rescale_quad(quad: np.ndarray, map_shape: tuple[int, ...], dest_w: int,
                  dest_h: int) -> np.ndarray:
    # float32 throughout, as numpy 1.x's value-based casting made the reference compute it
    height, width = map_shape
    dest = np.array([dest_w, dest_h], np.float32)
    scaled = np.round(quad / np.array([width, height], np.float32) * dest)
    return np.clip(scaled, 0, dest).astype(np.int32)


def _rescale_poly(poly: np.ndarray, map_shape: tuple[int, ...], dest_w: int,
                  dest_h: int) -> np.ndarray:
    height, width = map_shape
    out = poly.copy()
    for axis, size, dest in ((0, width, dest_w), (1, height, dest_h)):
        scaled = np.round(poly[:, axis] / size * float(dest))
        out[:, axis] = np.clip(scaled, 0, float(dest))
    return out


# ------------------------------------------------------------------------------- filtering


def filter_det_boxes(boxes: Sequence[np.ndarray], scores: Sequence[float], img_h: int,
                     img_w: int, box_type: str = "quad") -> tuple[list[np.ndarray], list[float]]:
    """Final clean-up of db_postprocess boxes against the source image size.

    Quads (filter_tag_det_res): corners re-ordered clockwise from top-left, clipped to
    [0, w-1] × [0, h-1] and truncated, dropped when an edge is <= MIN_BOX_SIDE; float32 4×2.
    Polygons (filter_tag_det_res_only_clip): clipped, then padded to the longest polygon's
    point count by repeating their last point; int64 P×2.  Scores follow their boxes.
    """
    if box_type == "poly":
        clipped = [_clip_points(np.array(p), img_h, img_w) for p in boxes]
        longest = max((len(p) for p in clipped), default=0)
        return [_pad_points(p, longest) for p in clipped], list(scores)
    kept, kept_scores = [], []
    for box, score in zip(boxes, scores, strict=True):
        quad = _clip_points(order_points_clockwise(np.asarray(box)), img_h, img_w)
        width = int(np.linalg.norm(quad[0] - quad[1]))
        height = int(np.linalg.norm(quad[0] - quad[3]))
        if width > MIN_BOX_SIDE and height > MIN_BOX_SIDE:
            kept.append(quad)
            kept_scores.append(score)
    return kept, kept_scores


def order_points_clockwise(pts: np.ndarray) -> np.ndarray:
    """Top-left (min x+y), top-right, bottom-right (max x+y), bottom-left as float32 4×2.

    Sums and differences are numpy's, in the points' dtype, as the reference computes them;
    the picking is plain Python over a handful of points (first minimum and maximum, as
    argmin and argmax choose), several times faster than np.delete and np.diff on 4 rows.
    """
    sums = pts.sum(axis=1).tolist()
    diffs = (pts[:, 1] - pts[:, 0]).tolist()
    first = min(range(len(sums)), key=sums.__getitem__)
    last = max(range(len(sums)), key=sums.__getitem__)
    rest = [k for k in range(len(sums)) if k not in (first, last)]
    rect = np.zeros((4, 2), dtype=np.float32)
    rect[0] = pts[first]
    rect[2] = pts[last]
    rect[1] = pts[min(rest, key=diffs.__getitem__)]
    rect[3] = pts[max(rest, key=diffs.__getitem__)]
    return rect


def _clip_points(pts: np.ndarray, img_h: int, img_w: int) -> np.ndarray:
    # int(min(max(v, 0), side - 1)) per coordinate; values are >= 0 so floor == truncation
    out = pts.copy()
    out[:, 0] = np.floor(np.clip(pts[:, 0], 0, img_w - 1))
    out[:, 1] = np.floor(np.clip(pts[:, 1], 0, img_h - 1))
    return out


def _pad_points(poly: np.ndarray, count: int) -> np.ndarray:
    if len(poly) == count:
        return poly
    return np.vstack([poly, np.repeat(poly[-1:], count - len(poly), axis=0)])
