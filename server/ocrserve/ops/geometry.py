"""Box geometry shared by detection post-processing and cropping (PaddleOCR 2.8.1 semantics).

Quads are 4×2 arrays ordered top-left, top-right, bottom-right, bottom-left in (x, y) pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import pyclipper

#: boxes whose first corners differ by less than this many pixels in y count as one line
SAME_LINE_PX = 10
#: crops at least this much taller than wide are vertical text: rotate them to lie flat
VERTICAL_RATIO = 1.5
#: fixed-point scale for the exact polygon intersection in box_iou
_IOU_SCALE = 1024


def min_area_quad(points: np.ndarray) -> tuple[np.ndarray, float]:
    """The minimum-area rectangle around ``points`` as a float32 quad, and its shorter side.

    Corner order follows PaddleOCR's get_mini_boxes: corners stably sorted by x, then within
    the left and the right pair the one with the smaller y comes first.
    """
    rect = cv2.minAreaRect(np.asarray(points).reshape(-1, 1, 2).astype(np.int32, copy=False))
    corners = cv2.boxPoints(rect)
    xs, ys = corners[:, 0].tolist(), corners[:, 1].tolist()
    a, b, c, d = sorted(range(4), key=xs.__getitem__)  # stable, as argsort(kind="stable")
    top_left, bottom_left = (a, b) if ys[b] > ys[a] else (b, a)
    top_right, bottom_right = (c, d) if ys[d] > ys[c] else (d, c)
    return corners[[top_left, top_right, bottom_right, bottom_left]], min(rect[1])


def sort_order(boxes: Sequence[np.ndarray]) -> list[int]:
    """Reading order as indices: top to bottom, then left to right within SAME_LINE_PX.

    Boxes are first sorted by their first corner's (y, x); then each box sinks left past
    neighbours on the same line that start further right, stopping at the first that doesn't
    (PaddleOCR's one-pass insertion in sorted_boxes, kept as is so orders match).
    """
    order = sorted(range(len(boxes)), key=lambda i: (boxes[i][0][1], boxes[i][0][0]))
    for i in range(len(order) - 1):
        for j in range(i, -1, -1):
            below, above = boxes[order[j + 1]], boxes[order[j]]
            if abs(below[0][1] - above[0][1]) < SAME_LINE_PX and below[0][0] < above[0][0]:
                order[j], order[j + 1] = order[j + 1], order[j]
            else:
                break
    return order


def crop_quad(img: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Warp the quad's content to an upright rectangle (get_rotate_crop_image).

    The output is as wide as the longer of the top/bottom edges and as high as the longer of
    the left/right edges (truncated to int); crops with h/w >= VERTICAL_RATIO are rotated 90°
    counter-clockwise so vertical text reads left to right.
    """
    src = np.asarray(quad, dtype=np.float32).reshape(4, 2)
    width = int(max(np.linalg.norm(src[0] - src[1]), np.linalg.norm(src[2] - src[3])))
    height = int(max(np.linalg.norm(src[0] - src[3]), np.linalg.norm(src[1] - src[2])))
    dst = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    crop = cv2.warpPerspective(
        img, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
    )
    if crop.shape[0] * 1.0 / crop.shape[1] >= VERTICAL_RATIO:
        crop = np.ascontiguousarray(np.rot90(crop))
    return crop


def crop_min_area_rect(img: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Crop a polygon through its minimum-area rectangle (get_minarea_rect_crop)."""
    quad, _ = min_area_quad(points)
    return crop_quad(img, quad)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two simple polygons (quads or polys), exact to 1/1024 px.

    Not part of PaddleOCR's pipeline: tests and benchmarks use it to match boxes.
    """
    pa, pb = _to_clipper(a), _to_clipper(b)
    area_a, area_b = abs(pyclipper.Area(pa)), abs(pyclipper.Area(pb))
    clipper = pyclipper.Pyclipper()
    clipper.AddPath(pa, pyclipper.PT_SUBJECT, True)
    clipper.AddPath(pb, pyclipper.PT_CLIP, True)
    pieces = clipper.Execute(pyclipper.CT_INTERSECTION, pyclipper.PFT_NONZERO,
                             pyclipper.PFT_NONZERO)
    # Outer rings have positive area and holes negative, so the sum is the covered area.
    inter = abs(sum(pyclipper.Area(p) for p in pieces))
    union = area_a + area_b - inter
    return float(inter / union) if union > 0 else 0.0


def _to_clipper(poly: np.ndarray) -> list[list[int]]:
    pts = np.rint(np.asarray(poly, dtype=np.float64).reshape(-1, 2) * _IOU_SCALE)
    return pts.astype(np.int64).tolist()
