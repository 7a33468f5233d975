"""Turn request bytes into the one layout the pipeline takes: BGR uint8, shape (H, W, 3).

PaddleOCR decodes with ``cv2.imdecode(..., IMREAD_UNCHANGED)``, expands grayscale with
``COLOR_GRAY2BGR`` and composites 4-channel images over white (``alpha_to_color``).  We do the
same, and also convert what PaddleOCR would pass through unusable: 16-bit samples keep their
high byte (what libpng's and OpenCV's own 8-bit decoding give), float samples are read as 0..1.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from ocrserve.errors import InvalidInput, Reason
from ocrserve.ops.header import PNG_SIGNATURE, image_size, png_for_decoding

#: channels per pixel for each raw pixel order ``from_pixels`` accepts
PIXEL_ORDERS: dict[str, int] = {"BGR": 3, "RGB": 3, "GRAY": 1, "BGRA": 4, "RGBA": 4}
#: Most scans (SOS markers) a JPEG may have.  libjpeg works through every pixel of
#: the image once per progressive scan, and a scan costs ten bytes: 100 KB of empty
#: scans on a 16-megapixel image are half a minute of CPU.  Real files have at most a
#: few dozen; 500 is the limit libjpeg-turbo's own fuzzers decode under.
JPEG_MAX_SCANS = 500
#: Pixels a sample conversion works on at a time (:func:`_by_rows`).  Its float64
#: arithmetic takes ~60 bytes a pixel: converted whole, a 2000x2000 RGBA image took
#: 244 MB of temporaries (tests/unit/ops/test_ops_image.py), and a small PNG may declare
#: 7000x7000 of one colour; by blocks, the temporaries stay near 16 MB.
CONVERT_BLOCK_PIXELS = 1 << 18


def decode_image(data: bytes, max_pixels: int | None = None) -> np.ndarray:
    """Decode an encoded image (JPEG, PNG, BMP, WebP or TIFF) to BGR uint8 (H, W, 3).

    The size its header declares is checked against ``max_pixels`` before OpenCV
    allocates anything (IMAGE_TOO_LARGE), and a file whose header does not say its
    size is not decoded at all: a 1 MB PNG can unpack to gigabytes.  Raises
    InvalidInput (IMAGE_EMPTY, IMAGE_UNDECODABLE) when the data is empty or OpenCV
    cannot decode it.  OpenCV's own message stays out of the error's text (it is chained
    as the cause, for the log): it describes OpenCV's internals, not the image.
    """
    if not data:
        raise InvalidInput("image data is empty", reason=Reason.IMAGE_EMPTY)
    undecodable = (f"image could not be decoded ({len(data)} bytes; supported: JPEG, PNG, "
                   "BMP, WebP, TIFF)")
    size = image_size(data)
    if size is None:
        raise InvalidInput(undecodable, reason=Reason.IMAGE_UNDECODABLE)
    if max_pixels is not None:
        check_pixels(*size, max_pixels)
    if data.startswith(PNG_SIGNATURE):
        still = png_for_decoding(data)  # see there: OpenCV's PNG chunk reader is not safe
        if still is None:
            raise InvalidInput(undecodable, reason=Reason.IMAGE_UNDECODABLE)
        data = still
    elif data.startswith(b"\xff\xd8") and data.count(b"\xff\xda") > JPEG_MAX_SCANS:
        # 0xFF 0xDA cannot occur inside entropy-coded data (0xFF is stuffed there)
        raise InvalidInput(f"image could not be decoded: a JPEG of more than {JPEG_MAX_SCANS} "
                           "scans", reason=Reason.IMAGE_UNDECODABLE)
    try:
        img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise InvalidInput(undecodable, reason=Reason.IMAGE_UNDECODABLE) from exc
    if img is None or img.size == 0:
        raise InvalidInput(undecodable, reason=Reason.IMAGE_UNDECODABLE)
    if max_pixels is not None:  # the header may have lied
        check_pixels(img.shape[1], img.shape[0], max_pixels)
    return _to_bgr(_to_uint8(img))


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    """IMAGE_TOO_LARGE when a width x height image exceeds ``max_pixels``."""
    if width * height > max_pixels:
        raise InvalidInput(f"{width}x{height} exceeds the limit of {max_pixels} pixels "
                           "(max_image_pixels)", reason=Reason.IMAGE_TOO_LARGE,
                           metadata={"limit": max_pixels, "value": width * height,
                                     "setting": "max_image_pixels"})


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
    return _by_rows(bgra, np.empty((*bgra.shape[:2], 3), np.uint8), _over_white)


def _over_white(bgra: np.ndarray) -> np.ndarray:
    alpha = bgra[:, :, 3:4] / 255
    blended: np.ndarray = 255 * (1 - alpha) + bgra[:, :, :3] * alpha
    return blended  # float64; storing it as uint8 rounds down, as alpha_to_color's astype


def _by_rows(img: np.ndarray, out: np.ndarray,
             convert: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``convert`` of ``img`` stored into ``out`` (cast to its type), a block of rows at a
    time (:data:`CONVERT_BLOCK_PIXELS`): the values of converting it whole, without the
    whole image's worth of float temporaries."""
    rows = max(1, CONVERT_BLOCK_PIXELS // max(1, img.shape[1]))
    for top in range(0, img.shape[0], rows):
        out[top:top + rows] = convert(img[top:top + rows])
    return out


def _to_uint8(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        return (img >> 8).astype(np.uint8)
    if img.dtype in (np.float16, np.float32, np.float64):
        return _by_rows(img, np.empty(img.shape, np.uint8), _unit_to_255)
    raise InvalidInput(f"unsupported image sample type {img.dtype}",
                       reason=Reason.IMAGE_UNDECODABLE)


def _unit_to_255(img: np.ndarray) -> np.ndarray:
    # NaN has no brightness: black, like -inf; clipping before scaling keeps huge
    # samples from overflowing (and NaN from reaching the cast, which is undefined).
    unit = np.clip(np.nan_to_num(img, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    scaled: np.ndarray = np.rint(unit * 255.0)
    return scaled


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
