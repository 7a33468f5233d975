"""Text-direction classification (0° / 180°) as PaddleOCR 2.8.1's TextClassifier does it.

The classifier's input is built exactly like a recognition crop, with a fixed width: resize to
the model height keeping the aspect ratio (at most the model width), scale to [-1, 1], zero-pad
on the right.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ocrserve.errors import InvalidInput, ModelError
from ocrserve.ops.rec import pad_batch, rec_resize_normalize


@dataclass(frozen=True)
class ClsParams:
    """Angle classifier knobs; defaults are PaddleOCR's."""

    image_shape: tuple[int, int, int] = (3, 48, 192)
    labels: tuple[str, ...] = ("0", "180")
    thresh: float = 0.9
    batch_num: int = 6

    def validate(self) -> None:
        """Raise InvalidInput naming the first field that is out of range."""
        if self.image_shape[0] != 3 or min(self.image_shape) < 1:
            raise InvalidInput("image_shape must be (3, H, W) with H, W >= 1")
        if not 0.0 <= self.thresh <= 1.0:
            raise InvalidInput("thresh must be within [0, 1]")
        if self.batch_num < 1:
            raise InvalidInput("batch_num must be >= 1")


def cls_preprocess(crop: np.ndarray, image_shape: tuple[int, int, int]) -> np.ndarray:
    """The classifier's CHW float32 input for one BGR crop (resize_norm_img)."""
    _, height, width = image_shape
    return pad_batch([rec_resize_normalize(crop, height, width)], width)[0]


def cls_decode(probs: np.ndarray,
               labels: Sequence[str] = ClsParams.labels) -> list[tuple[str, float]]:
    """(label, probability) of the most likely class for each row of N×C probabilities."""
    probs = np.asarray(probs)
    if probs.ndim != 2 or probs.shape[1] != len(labels):
        raise ModelError(f"classifier output {probs.shape} is not N×{len(labels)}")
    best = probs.argmax(axis=1)
    return [(labels[k], float(probs[i, k])) for i, k in enumerate(best)]


def apply_angle(crop: np.ndarray, label: str, score: float, thresh: float) -> np.ndarray:
    """The crop turned upright: rotated 180° when classified "180" with score > thresh."""
    if "180" in label and score > thresh:
        return cv2.rotate(crop, cv2.ROTATE_180)
    return crop
