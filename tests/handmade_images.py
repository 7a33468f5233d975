"""Image files written byte by byte, for header layouts the encoders never produce
(shared by the header tests and the fuzzer; tests/ is on sys.path via its conftest)."""

from __future__ import annotations

import struct

import numpy as np


def bmp_24(bgr: np.ndarray, header: str = "info", top_down: bool = False) -> bytes:
    """A 24-bit BMP with a BITMAPCOREHEADER ("core", OS/2) or BITMAPINFOHEADER,
    bottom-up or (``top_down``, a negative height) top-down."""
    height, width = bgr.shape[:2]
    stride = (width * 3 + 3) & ~3
    body = b"".join(row.tobytes().ljust(stride, b"\0")
                    for row in (bgr if top_down else bgr[::-1]))
    if header == "core":  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        dib = struct.pack("<IHHHH", 12, width, height, 1, 24)
    else:
        dib = struct.pack("<IiiHHIIiiII", 40, width, -height if top_down else height, 1, 24,
                          0, len(body), 2835, 2835, 0, 0)
    offset = 14 + len(dib)
    return b"BM" + struct.pack("<IHHI", offset + len(body), 0, 0, offset) + dib + body
