"""Text-direction classification (0° / 180°) as PaddleOCR 2.8.1's TextClassifier does it.

The classifier's input is built exactly like a recognition crop, with a fixed width: resize to
the model height keeping the aspect ratio (at most the model width), scale to [-1, 1], zero-pad
on the right.  The front-end does the resize (:func:`cls_input`); the engine scales and pads
(``ops.rec.rec_normalize``), as for the recognizer.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ocrserve.errors import ModelError
from ocrserve.ops.rec import rec_input

#: The v2.0 classifier's labels, in output order (PaddleOCR's label_list).
LABELS = ("0", "180")


def cls_input(crop: np.ndarray, image_shape: tuple[int, int, int]) -> np.ndarray:
    """The classifier's input for one BGR crop before normalisation: the (H, W, 4) uint8
    item of ``ops.rec.rec_input`` at the model's fixed size."""
    _, height, width = image_shape
    return rec_input(crop, height, width)


def cls_decode(probs: np.ndarray,
               labels: Sequence[str] = LABELS) -> list[tuple[str, float]]:
    """(label, probability) of the most likely class for each row of N×C probabilities."""
    probs = np.asarray(probs)
    if probs.ndim != 2 or probs.shape[1] != len(labels):
        raise ModelError(f"classifier output {probs.shape} is not N×{len(labels)}")
    best = probs.argmax(axis=1)
    return [(labels[k], float(probs[i, k])) for i, k in enumerate(best)]


def turns_crop(label: str, score: float, thresh: float) -> bool:
    """PaddleOCR's rule: a crop is turned when classified "180" with score > thresh."""
    return "180" in label and score > thresh


def apply_angle(crop: np.ndarray, label: str, score: float, thresh: float) -> np.ndarray:
    """The crop turned upright (see :func:`turns_crop`)."""
    if turns_crop(label, score, thresh):
        return cv2.rotate(crop, cv2.ROTATE_180)
    return crop
