"""Normalising uint8 pixels through per-channel lookup tables, bit-identical to the arithmetic.

The detector's and the recognizer's inputs are float32 functions of one uint8 sample and its
channel: ``(x * scale - mean[c]) / std[c]``, ``(x / 255 - 0.5) / 0.5``.  Computed per pixel,
that is four or five passes over a float32 image plus a transpose to CHW (~9 ms for a
960x704 page, the largest part of the detector's pre-processing).  There are only 256
possible samples per channel, so the expression is evaluated once on each of them
(:func:`value_tables`) and the image is mapped through the tables, one plane at a time,
straight into the CHW layout (:func:`lookup_chw`, < 1 ms).

The tables come from the very expression the pixels used to go through, run by numpy in
float32 on a ramp of all 256 values: each element of an elementwise float32 computation
depends only on that element, so the table holds exactly the value the image's pixel got.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

#: every value a uint8 sample can take
LEVELS = 256


def value_tables(normalize: Callable[[np.ndarray], np.ndarray],
                 channels: int = 3) -> np.ndarray:
    """(channels, LEVELS) float32: ``normalize`` of every uint8 value, for every channel.

    ``normalize`` maps an (H, W, channels) uint8 image to a float32 image of the same
    shape, elementwise (a pixel's value depends on that pixel and its channel only).
    """
    ramp = np.repeat(np.arange(LEVELS, dtype=np.uint8).reshape(LEVELS, 1, 1), channels, axis=2)
    values = normalize(ramp)
    if values.dtype != np.float32 or values.shape != ramp.shape:
        raise ValueError(f"normalize gave {values.dtype} {values.shape}, "
                         f"expected float32 {ramp.shape}")
    return np.ascontiguousarray(values.reshape(LEVELS, channels).T)


def lookup_chw(img: np.ndarray, tables: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """CHW float32 ``tables[c][img[h, w, c]]`` for an (H, W, C) uint8 image, C == len(tables).

    OpenCV's LUT writes each plane into its row of the output: no float32 temporaries.
    ``out``, when given, is that output: a C-contiguous (C, H, W) float32 array (a batch's
    item, so the engine normalises straight into the model's input).
    """
    height, width, channels = img.shape
    if img.dtype != np.uint8 or channels != tables.shape[0]:
        raise ValueError(f"expected an (H, W, {tables.shape[0]}) uint8 image, "
                         f"got {img.dtype} {img.shape}")
    return lookup_planes(cv2.split(img), tables, chw_output(out, channels, height, width))


def chw_output(out: np.ndarray | None, channels: int, height: int, width: int) -> np.ndarray:
    """``out`` checked to be a C-contiguous (C, H, W) float32 array, or a new one."""
    if out is None:
        return np.empty((channels, height, width), dtype=np.float32)
    if (out.shape != (channels, height, width) or out.dtype != np.float32
            or not out.flags.c_contiguous):
        raise ValueError(f"out must be a C-contiguous float32 {(channels, height, width)}, "
                         f"got {out.dtype} {out.shape}")
    return out


def lookup_planes(planes: Sequence[np.ndarray], tables: np.ndarray,
                  out: np.ndarray) -> np.ndarray:
    """:func:`lookup_chw` on an image already split into its (H, W) uint8 planes, one per
    table, into ``out`` (checked by the caller)."""
    for plane, table, row in zip(planes, tables, out, strict=True):
        cv2.LUT(plane, table, dst=row)
    return out
