"""Text recognition (CRNN/SVTR + CTC): pre-processing and greedy CTC decoding.

Mirrors PaddleOCR 2.8.1's TextRecognizer.resize_norm_img and CTCLabelDecode.  PaddleOCR resizes
each crop to the model's height, then zero-pads it on the right to the batch width
``int(H * max_wh_ratio)``, where max_wh_ratio is the widest w/h in the batch but at least
base_width / H.  A crop's resized width is capped by that batch width, so for identical inputs
the caller must form batches the way PaddleOCR does (crops sorted by w/h, batch_num at a time).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from ocrserve.errors import ModelError
from ocrserve.ops.lookup import lookup_chw, value_tables

#: characters PaddleOCR keeps in reading order when reversing right-to-left (Arabic) text
_LTR_RUN = re.compile(r"[a-zA-Z0-9 :*./%+-]")


REC_BASE_WIDTH = 320  # PaddleOCR's rec_image_shape width: no recognizer batch is narrower
#: Widest recognizer input; wider crops are squeezed (PaddleOCR issue 7454: OOM).
REC_MAX_WIDTH = 3200


# --------------------------------------------------------------------------- pre-processing


def rec_max_wh_ratio(sizes: Iterable[tuple[int, int]], image_height: int,
                     base_width: int) -> float:
    """PaddleOCR's max_wh_ratio for a batch of crops given as (h, w): at least base_width / H."""
    ratio = base_width / image_height
    for h, w in sizes:
        ratio = max(ratio, w * 1.0 / h)
    return ratio


def rec_padded_width(image_height: int, max_wh_ratio: float) -> int:
    """Width every crop of the batch is padded to."""
    return int(image_height * max_wh_ratio)


def rec_target_width(crop_h: int, crop_w: int, image_height: int, max_wh_ratio: float) -> int:
    """Width a crop is resized to: ceil(H * w / h), capped at the batch's padded width."""
    return _resized_width(crop_h, crop_w, image_height, rec_padded_width(image_height,
                                                                          max_wh_ratio))


def rec_resize_normalize(crop: np.ndarray, image_height: int, max_width: int) -> np.ndarray:
    """Resize a BGR crop to height H (width per rec_target_width's rule, at most ``max_width``)
    and scale to [-1, 1]: the unpadded CHW float32 part of the model input.
    """
    width = _resized_width(crop.shape[0], crop.shape[1], image_height, max_width)
    return lookup_chw(cv2.resize(crop, (width, image_height)), _SCALED)


def unit_scale(img: np.ndarray) -> np.ndarray:
    """resize_norm_img's float32 arithmetic on uint8 samples, in its operation order
    (/255, -0.5, /0.5): the definition :data:`_SCALED` tabulates."""
    scaled: np.ndarray = img.astype(np.float32) / 255
    scaled -= 0.5
    scaled /= 0.5
    return scaled


#: unit_scale of each uint8 value per channel (see ocrserve.ops.lookup)
_SCALED = value_tables(unit_scale)


def pad_batch(items: Sequence[np.ndarray], width: int) -> np.ndarray:
    """Stack CHW items into NCHW float32, zero-padding each on the right to ``width``."""
    if not items:
        raise ValueError("pad_batch needs at least one item")
    c, h = items[0].shape[:2]
    batch = np.zeros((len(items), c, h, width), dtype=np.float32)
    for i, item in enumerate(items):
        if item.shape[:2] != (c, h) or item.shape[2] > width:
            raise ValueError(f"item {i} of shape {item.shape} does not fit ({c}, {h}, {width})")
        batch[i, :, :, : item.shape[2]] = item
    return batch


def rec_preprocess(crop: np.ndarray, image_height: int, max_wh_ratio: float) -> np.ndarray:
    """resize_norm_img: the crop resized, normalized and padded to the batch width (CHW)."""
    width = rec_padded_width(image_height, max_wh_ratio)
    return pad_batch([rec_resize_normalize(crop, image_height, width)], width)[0]


def _resized_width(crop_h: int, crop_w: int, image_height: int, max_width: int) -> int:
    # the reference's expression, ceil(H * (w / h)), so float rounding cannot tell them apart
    wanted = math.ceil(image_height * (crop_w / float(crop_h)))
    return max_width if wanted > max_width else int(wanted)


# -------------------------------------------------------------------------------- decoding


class CtcDecoder:
    """Greedy CTC decoding over a dictionary: class 0 is the blank, then the dictionary's
    characters, then (use_space_char) a space.

    ``reverse`` re-orders right-to-left text the way PaddleOCR does for dictionaries whose
    path contains "arabic".
    """

    def __init__(self, characters: Sequence[str], use_space_char: bool = True,
                 reverse: bool = False) -> None:
        self._table = ["", *characters, *([" "] if use_space_char else [])]
        self._reverse = reverse

    @property
    def num_classes(self) -> int:
        """The model output's class count this dictionary needs."""
        return len(self._table)

    def decode(self, indices: np.ndarray, probs: np.ndarray) -> list[tuple[str, float]]:
        """(text, score) per row of N×T argmax indices and their probabilities.

        Repeated indices collapse to one, then blanks are dropped; the score is the mean of
        the kept probabilities (in their dtype, as numpy's mean gives it), 0.0 for empty text.
        """
        indices, probs = np.asarray(indices), np.asarray(probs)
        if indices.ndim != 2 or indices.shape != probs.shape:
            raise ModelError(f"CTC indices {indices.shape} and probs {probs.shape} must be N×T")
        if indices.size and (indices.min() < 0 or indices.max() >= self.num_classes):
            raise ModelError(f"CTC class index outside [0, {self.num_classes})")
        return [self._decode_row(row, row_probs) for row, row_probs in zip(indices, probs,
                                                                           strict=True)]

    def _decode_row(self, row: np.ndarray, row_probs: np.ndarray) -> tuple[str, float]:
        keep = np.ones(len(row), dtype=bool)
        keep[1:] = row[1:] != row[:-1]
        keep &= row != 0
        text = "".join(self._table[i] for i in row[keep])
        if self._reverse:
            text = _reverse_rtl(text)
        score = float(np.mean(row_probs[keep])) if keep.any() else 0.0
        return text, score


def _reverse_rtl(text: str) -> str:
    """Reverse the order of characters, but keep runs of Latin/digit characters readable."""
    pieces: list[str] = []
    run = ""
    for char in text:
        if _LTR_RUN.search(char):
            run += char
            continue
        if run:
            pieces.append(run)
        pieces.append(char)
        run = ""
    if run:
        pieces.append(run)
    return "".join(reversed(pieces))
