"""A cheap "has this frame changed?" for video streams (StreamOcr's dedup).

A frame is reduced to a 64x64 grey thumbnail (area averaging, so sensor and
compression noise average out within each cell), and two frames differ by the
largest change of any one cell, in [0, 1].  The largest, not the mean: text is
a small part of a frame, and one changed word must count as a change however
still the rest of the picture is.  In the tests' generated video a changed word
moved some cell by 0.2-0.6 while a repeated frame gives 0.0; camera noise is
typically a few hundredths, so thresholds around 0.05 suit real sources.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

THUMBNAIL_SIDE = 64


@dataclass(frozen=True)
class Thumbnail:
    height: int  # of the frame it came from
    width: int
    cells: np.ndarray  # THUMBNAIL_SIDE x THUMBNAIL_SIDE, float32 in [0, 1]


def thumbnail(image: np.ndarray) -> Thumbnail:
    """``image``: BGR or grey uint8."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    cells = cv2.resize(grey, (THUMBNAIL_SIDE, THUMBNAIL_SIDE), interpolation=cv2.INTER_AREA)
    return Thumbnail(image.shape[0], image.shape[1], cells.astype(np.float32) / 255.0)


def difference(a: Thumbnail, b: Thumbnail) -> float:
    """The largest change of any cell, in [0, 1]; frames of different sizes differ by 1."""
    if (a.height, a.width) != (b.height, b.width):
        return 1.0
    return float(np.max(np.abs(a.cells - b.cells)))
