"""Image dimensions from the file header, without decoding: pure byte parsing.

A 1 MB PNG can declare 20000x20000 pixels; decoding it to find out costs
1.2 GB.  The size limits are therefore checked against what the header
declares, before any decoder runs.  Each reader below looks only at the few
bytes its format's specification puts the size in (PNG IHDR, JPEG SOFn, BMP
DIB header, WebP VP8/VP8L/VP8X, TIFF IFD0) and gives up (None) on anything
it does not recognise: ``ops.image.decode_image`` then refuses the file
unread, since nothing bounds what it would cost.  Where the format lets two
readers disagree (repeated TIFF tags, bytes between JPEG segments), the readers
follow the decoder (libtiff, libjpeg) or give up, so that the size the limits
see is the size the decoder allocates.

Every reader runs in bounded time whatever the input: they run on the event
loop (a request's cost is read from its headers before it is admitted).

:func:`png_for_decoding` guards OpenCV's own PNG chunk reader, see there.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable

import numpy as np

Size = tuple[int, int]  # (width, height)

#: JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic): not
#: DHT (C4), JPG (C8) or DAC (CC), which share the range.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
#: Markers without a length field.
_JPEG_STANDALONE = frozenset([0x01, *range(0xD0, 0xD9)])
#: The 0xFF before a marker code and any fill bytes (0xFF) before it: more fill than
#: this gives up, so that a file of nothing but fill costs no more than a real one.
_JPEG_FILL = re.compile(rb"\xff{1,64}")
#: Segments read before giving up on finding the SOF (real files have a few dozen;
#: each costs a few microseconds, on the event loop).
_JPEG_MAX_SEGMENTS = 1024

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Chunks read before the image data before giving up (real files have a few dozen).
_PNG_MAX_CHUNKS = 4096
#: APNG's chunks before the first IDAT; see png_for_decoding.
_PNG_ANIMATION = frozenset({b"acTL", b"fcTL"})


def image_size(data: bytes) -> Size | None:
    """(width, height) as the header declares it, or None for an unknown or broken header."""
    for signature, reader in _READERS:
        if data.startswith(signature):
            try:
                return reader(data)
            except (struct.error, IndexError):
                return None
    return None


def png_for_decoding(data: bytes) -> bytes | None:
    """The PNG as OpenCV may be given it, or None when it must not be.

    OpenCV 4.11 reads the chunks before the first IDAT itself, and *allocates and
    zero-fills each chunk's declared length* before reading it: a 49-byte PNG
    declaring a 4 GB chunk costs 4 GB of memory and seconds.  So every chunk up to
    the first IDAT must fit in the data (None otherwise: the decoder would fail on
    such a file anyway).

    Its APNG code (taken when an acTL chunk comes before the image data) trusts the
    frame rectangles of fcTL chunks and writes outside the image for one that does
    not fit: a crafted 200-byte file crashes the process.  The API takes still
    images, and an APNG's IDAT is its default image, so the animation chunks before
    the image data are dropped and OpenCV decodes that image with plain libpng,
    which skips the animation chunks after it.
    """
    if not data.startswith(PNG_SIGNATURE):
        return None
    offset = len(PNG_SIGNATURE)
    animation: list[tuple[int, int]] = []
    for _ in range(_PNG_MAX_CHUNKS):
        if offset + 12 > len(data):
            return None
        length, kind = struct.unpack_from(">I4s", data, offset)
        end = offset + 12 + length  # length, type, data, CRC
        if end > len(data):
            return None
        if kind == b"IDAT":
            break
        if kind in _PNG_ANIMATION:
            animation.append((offset, end))
        offset = end
    else:
        return None
    if not animation:
        return data
    kept, start = [], 0
    for begin, end in animation:
        kept.append(data[start:begin])
        start = end
    kept.append(data[start:])
    return b"".join(kept)


def _png(data: bytes) -> Size | None:
    # 8-byte signature, then the IHDR chunk: length (13), "IHDR", width, height (big-endian).
    if data[8:16] != b"\0\0\0\x0dIHDR":
        return None
    width, height = struct.unpack_from(">II", data, 16)
    return width, height


def _jpeg(data: bytes) -> Size | None:
    """The size in the first SOF, walking the segments as libjpeg does.

    libjpeg skips stray bytes between segments (with a warning); we do not guess
    which segment comes next there, nor after a marker code libjpeg would not read
    as one (0x00: a stuffed byte, 0x02-0xBF: reserved), and give up instead.
    """
    offset = 2
    for _ in range(_JPEG_MAX_SEGMENTS):
        fill = _JPEG_FILL.match(data, offset)  # at least one 0xFF, then the marker code
        if fill is None or fill.end() >= len(data):
            return None
        code_at = fill.end()
        marker = data[code_at]
        if marker == 0xFF:  # still fill
            return None
        if marker in _JPEG_STANDALONE:
            offset = code_at + 1
            continue
        if marker < 0xC0:
            return None
        (length,) = struct.unpack_from(">H", data, code_at + 1)
        if marker in _JPEG_SOF:
            if length < 8:  # precision, height, width, component count at least
                return None
            height, width = struct.unpack_from(">HH", data, code_at + 4)
            return width, height
        if length < 2:
            return None
        offset = code_at + 1 + length
    return None


def _bmp(data: bytes) -> Size | None:
    (header_size,) = struct.unpack_from("<I", data, 14)
    if header_size == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        width, height = struct.unpack_from("<HH", data, 18)
        return width, height
    width, height = struct.unpack_from("<ii", data, 18)
    return abs(width), abs(height)  # a negative height means top-down rows


def _webp(data: bytes) -> Size | None:
    if data[8:12] != b"WEBP":
        return None
    chunk = data[12:16]
    if chunk == b"VP8 ":  # lossy: the key frame header after a 3-byte start code
        width, height = struct.unpack_from("<HH", data, 26)
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":  # lossless: 14-bit width-1 and height-1 after the 0x2F signature
        (bits,) = struct.unpack_from("<I", data, 21)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:  # extended: 24-bit canvas width-1, height-1
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None


def _tiff(data: bytes) -> Size | None:
    """ImageWidth (256) and ImageLength (257) of IFD0.

    libtiff takes the first entry of a tag that is repeated (and reads the entries
    in any order), so the first one counts here too: the last would let a file
    declare a small size while libtiff allocates a large one.  Only the types the
    specification allows (SHORT, LONG; one value) are read; anything else gives up.
    """
    order = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack_from(order + "I", data, 4)
    (count,) = struct.unpack_from(order + "H", data, ifd)
    entries = data[ifd + 2:ifd + 2 + 12 * count]
    if len(entries) != 12 * count:
        return None
    # 12-byte entries: tag, type, count, value; up to 65535 of them, so found with numpy
    tags = np.frombuffer(entries, dtype=order + "u2").reshape(-1, 6)[:, 0]
    size = []
    for tag in (256, 257):
        first = np.flatnonzero(tags == tag)
        if not first.size:
            return None
        kind, values = struct.unpack_from(order + "HI", entries, 12 * int(first[0]) + 2)
        if values != 1 or kind not in (3, 4):  # SHORT or LONG
            return None
        (value,) = struct.unpack_from(order + ("H" if kind == 3 else "I"), entries,
                                      12 * int(first[0]) + 8)
        size.append(value)
    return size[0], size[1]


_READERS: tuple[tuple[bytes, Callable[[bytes], Size | None]], ...] = (
    (PNG_SIGNATURE, _png),
    (b"\xff\xd8", _jpeg),
    (b"BM", _bmp),
    (b"RIFF", _webp),
    (b"II*\x00", _tiff),
    (b"MM\x00*", _tiff),
)
