"""Turn request bytes into the one layout the pipeline takes: BGR uint8, shape (H, W, 3).

PaddleOCR decodes with ``cv2.imdecode(..., IMREAD_UNCHANGED)``, expands grayscale with
``COLOR_GRAY2BGR`` and composites 4-channel images over white (``alpha_to_color``).  We do the
same, and also convert what PaddleOCR would pass through unusable: 16-bit samples keep their
high byte (what libpng's and OpenCV's own 8-bit decoding give), float samples are read as 0..1.
"""

from __future__ import annotations

import cv2
import numpy as np

from ocrserve.errors import InvalidInput, Reason

#: channels per pixel for each raw pixel order ``from_pixels`` accepts
PIXEL_ORDERS: dict[str, int] = {"BGR": 3, "RGB": 3, "GRAY": 1, "BGRA": 4, "RGBA": 4}


def decode_image(data: bytes) -> np.ndarray:
    """Decode an encoded image (JPEG, PNG, BMP, WebP, TIFF, …) to BGR uint8 (H, W, 3).

    Raises InvalidInput (IMAGE_EMPTY, IMAGE_UNDECODABLE) when the data is empty or OpenCV
    cannot decode it.  OpenCV's own message stays out of the error's text (it is chained
    as the cause, for the log): it describes OpenCV's internals, not the image.
    """
    if not data:
        raise InvalidInput("image data is empty", reason=Reason.IMAGE_EMPTY)
    undecodable = (f"image could not be decoded ({len(data)} bytes; supported: JPEG, PNG, "
                   "BMP, WebP, TIFF)")
    try:
        img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise InvalidInput(undecodable, reason=Reason.IMAGE_UNDECODABLE) from exc
    if img is None or img.size == 0:
        raise InvalidInput(undecodable, reason=Reason.IMAGE_UNDECODABLE)
    return _to_bgr(_to_uint8(img))


def from_pixels(buf: bytes, height: int, width: int, channels: int, order: str) -> np.ndarray:
    """Wrap raw uint8 pixels (row-major, interleaved) as BGR uint8 (H, W, 3).

    ``order`` is one of PIXEL_ORDERS; ``channels`` must agree with it and ``len(buf)`` must be
    exactly ``height * width * channels``.  Alpha is composited over white as for decoded images.
    """
    expected_channels = PIXEL_ORDERS.get(order)
    if expected_channels is None:
        raise InvalidInput(f"unknown pixel order {order!r}; expected one of {sorted(PIXEL_ORDERS)}")
    if channels != expected_channels:
        raise InvalidInput(f"pixel order {order} has {expected_channels} channels, got {channels}")
    if height <= 0 or width <= 0:
        raise InvalidInput(f"image size must be positive, got {height}x{width}",
                           reason=Reason.IMAGE_EMPTY)
    if len(buf) != height * width * channels:
        raise InvalidInput(
            f"pixel buffer has {len(buf)} bytes, expected {height}x{width}x{channels}"
            f" = {height * width * channels}",
            reason=Reason.IMAGE_SIZE_MISMATCH,
            metadata={"value": len(buf), "limit": height * width * channels},
        )
    img = np.frombuffer(buf, dtype=np.uint8).reshape(height, width, channels)
    if order in ("RGB", "RGBA"):
        img = img[:, :, [2, 1, 0, 3][:channels]]
    return _to_bgr(img)


def composite_over_white(bgra: np.ndarray) -> np.ndarray:
    """Blend BGRA uint8 over a white background, rounding down as PaddleOCR's alpha_to_color."""
    alpha = bgra[:, :, 3:4] / 255
    return (255 * (1 - alpha) + bgra[:, :, :3] * alpha).astype(np.uint8)


def _to_uint8(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        return (img >> 8).astype(np.uint8)
    if img.dtype in (np.float32, np.float64):
        return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    raise InvalidInput(f"unsupported image sample type {img.dtype}",
                       reason=Reason.IMAGE_UNDECODABLE)


def _to_bgr(img: np.ndarray) -> np.ndarray:
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    channels = img.shape[2]
    if channels == 3:
        return np.ascontiguousarray(img)
    if channels == 4:
        return composite_over_white(img)
    raise InvalidInput(f"unsupported image with {channels} channels",
                       reason=Reason.IMAGE_UNDECODABLE)
