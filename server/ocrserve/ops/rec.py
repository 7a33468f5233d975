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
from ocrserve.ops.lookup import chw_output, lookup_planes, value_tables

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


#: The fourth channel of a recognizer input (:func:`rec_input`) over the resized crop; it
#: is 0 over the padding.
CROP = 255


def rec_input(crop: np.ndarray, image_height: int, width: int) -> np.ndarray:
    """A BGR crop as the engine takes it: (H, ``width``, 4) uint8, not yet normalised.

    The crop is resized to height H (width per rec_target_width's rule, at most
    ``width``) into the first three channels, and the fourth is :data:`CROP` over it
    and 0 over the padding to ``width``.  PaddleOCR pads with zeros *after*
    normalising, and no uint8 sample normalises to 0.0, so the padding must be marked;
    :func:`rec_normalize` (or a runtime on its device) turns the item into the model's
    input.  A third of the float32 input's bytes, for the transport and the GPU copy.
    """
    resized_width = _resized_width(crop.shape[0], crop.shape[1], image_height, width)
    item = np.zeros((image_height, width, 4), np.uint8)
    item[:, :resized_width, :3] = cv2.resize(crop, (resized_width, image_height))
    item[:, :resized_width, 3] = CROP
    return item


def rec_normalize(item: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The CHW float32 model input of a :func:`rec_input` item: resize_norm_img's scaling
    of every crop sample (through lookup tables, ops/lookup.py) and 0.0 wherever the
    fourth channel is 0.  ``out``: a C-contiguous (3, H, W) float32 array to write to."""
    height, width, channels = item.shape
    if item.dtype != np.uint8 or channels != 4:
        raise ValueError(f"expected an (H, W, 4) uint8 item, got {item.dtype} {item.shape}")
    out = chw_output(out, 3, height, width)
    *planes, marks = cv2.split(item)
    lookup_planes(planes, REC_TABLES, out)
    np.copyto(out, 0.0, where=(marks == 0)[None])
    return out


def unit_scale(img: np.ndarray) -> np.ndarray:
    """resize_norm_img's float32 arithmetic on uint8 samples, in its operation order
    (/255, -0.5, /0.5): the definition :data:`REC_TABLES` tabulates."""
    scaled: np.ndarray = img.astype(np.float32) / 255
    scaled -= 0.5
    scaled /= 0.5
    return scaled


#: unit_scale of each uint8 value per channel (see ocrserve.ops.lookup): also what a
#: runtime that normalises on its device is given (``Runtime.accept_images``)
REC_TABLES = value_tables(unit_scale)


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
