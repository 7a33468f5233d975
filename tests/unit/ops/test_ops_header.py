"""Image sizes read from file headers, without decoding (``ocrserve.ops.header``).

Every format the API takes, in the variants encoders write (gray, alpha, 16-bit,
palette, OS/2 and top-down BMP, JPEG with APP/COM segments before the SOF,
progressive JPEG, WebP lossy/lossless/extended, TIFF in both byte orders); broken,
truncated and unknown data give None, never an exception; and the size read is the
size the decoder then allocates.
"""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from handmade_images import bmp_24
from PIL import Image

from ocrserve.ops.header import image_size, png_for_decoding

WIDTH, HEIGHT = 7, 5


@pytest.fixture
def bgr() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)


def cv2_encode(ext: str, img: np.ndarray, params: list[int] | None = None) -> bytes:
    ok, buf = cv2.imencode(ext, img, params or [])
    assert ok
    return buf.tobytes()


def pil_encode(img: Image.Image, fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def pil_image(mode: str, size: tuple[int, int] = (WIDTH, HEIGHT)) -> Image.Image:
    """Random pixels in ``mode``; alpha modes get a translucent alpha (or encoders drop it)."""
    rgba = np.random.default_rng(2).integers(0, 256, (size[1], size[0], 4), dtype=np.uint8)
    return Image.fromarray(rgba, "RGBA").convert(mode)


def decoded_size(data: bytes) -> tuple[int, int]:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert img is not None
    return img.shape[1], img.shape[0]


def assert_size(data: bytes, size: tuple[int, int] = (WIDTH, HEIGHT)) -> None:
    """The header says ``size``, OpenCV decodes that size, and no prefix of the data
    makes the reader raise or say anything but None or that size."""
    assert image_size(data) == size
    assert decoded_size(data) == size
    for end in range(len(data)):
        assert image_size(data[:end]) in (None, size), end


# ------------------------------------------------------------------------ PNG

@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_of_any_channels_and_depth(bgr: np.ndarray, channels: int, dtype: type) -> None:
    img: np.ndarray = {1: cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), 3: bgr,
                       4: cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)}[channels].astype(dtype)
    assert_size(cv2_encode(".png", img))


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGBA"])
def test_png_of_every_pillow_mode(mode: str) -> None:
    assert_size(pil_encode(pil_image(mode), "PNG"))


def test_16_bit_gray_png_from_pillow() -> None:
    gray16 = np.arange(WIDTH * HEIGHT, dtype=np.uint16).reshape(HEIGHT, WIDTH) * 1000
    img = Image.fromarray(gray16)
    assert img.mode == "I;16"
    assert_size(pil_encode(img, "PNG"))


def _png_chunk(kind: bytes, body: bytes, length: int | None = None) -> bytes:
    declared = len(body) if length is None else length
    return struct.pack(">I", declared) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header(width: int, height: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(
        b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))


@pytest.mark.parametrize("size", [(0, 0), (50000, 50000), (1, 2**31 - 1), (2**32 - 1, 1)])
def test_png_declares_any_size_exactly(size: tuple[int, int]) -> None:
    assert image_size(_png_header(*size)) == size


def test_png_without_a_proper_ihdr_is_unknown(bgr: np.ndarray) -> None:
    data = cv2_encode(".png", bgr)
    assert image_size(data[:23]) is None  # truncated inside IHDR
    assert image_size(data[:8] + b"\0\0\0\x0eIHDR" + data[16:]) is None  # IHDR of 14 bytes
    assert image_size(data[:12] + b"IDAT" + data[16:]) is None  # no IHDR first


# ----------------------------------------------------------------------- JPEG

@pytest.mark.parametrize("gray", [False, True])
@pytest.mark.parametrize("progressive", [0, 1])
def test_jpeg_baseline_and_progressive(bgr: np.ndarray, gray: bool, progressive: int) -> None:
    img = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if gray else bgr
    data = cv2_encode(".jpg", img, [cv2.IMWRITE_JPEG_PROGRESSIVE, progressive])
    assert (b"\xff\xc2" in data) == bool(progressive)
    assert_size(data)


@pytest.mark.parametrize("mode", ["L", "RGB", "CMYK"])
def test_jpeg_with_exif_icc_and_comment_before_the_sof(mode: str) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotated; the decoder does not apply it (IMREAD_UNCHANGED)
    exif[0x010F] = "maker"
    data = pil_encode(pil_image(mode), "JPEG", exif=exif.tobytes(), icc_profile=b"\0" * 600,
                      comment=b"a comment", progressive=True)
    sof = data.index(b"\xff\xc2")
    for segment in (b"\xff\xe1", b"\xff\xe2", b"\xff\xfe"):  # APP1, APP2, COM
        assert 0 < data.index(segment) < sof
    assert_size(data)


def test_jpeg_fill_bytes_and_standalone_markers_before_the_sof_are_skipped(
        bgr: np.ndarray) -> None:
    data = cv2_encode(".jpg", bgr)
    padded = data[:2] + b"\xff\xff\xff" + b"\xff\xd0" + data[2:]  # fill, RST0, then APP0
    assert image_size(padded) == (WIDTH, HEIGHT)


def _jpeg_sof(width: int, height: int, marker: int = 0xC0) -> bytes:
    return (b"\xff\xd8\xff\xe0\x00\x04\x00\x00" + bytes([0xFF, marker]) + b"\x00\x11\x08"
            + struct.pack(">HH", height, width) + b"\x03" + b"\x01\x22\x00" * 3)


@pytest.mark.parametrize("marker", [0xC0, 0xC1, 0xC2, 0xC3, 0xC9, 0xCA, 0xCF])
def test_jpeg_sizes_of_every_sof_kind(marker: int) -> None:
    assert image_size(_jpeg_sof(65535, 0, marker)) == (65535, 0)


@pytest.mark.parametrize("marker", [0xC4, 0xC8, 0xCC])  # DHT, JPG, DAC share the range
def test_jpeg_segments_in_the_sof_range_that_are_not_sofs(marker: int) -> None:
    assert image_size(_jpeg_sof(3, 4, marker)) is None


@pytest.mark.parametrize("data", [
    b"\xff\xd8",
    b"\xff\xd8\xff",
    _jpeg_sof(3, 4)[:15],                                  # inside the SOF
    b"\xff\xd8\x00\xff\xc0" + _jpeg_sof(3, 4)[10:],       # a stray byte before a marker
    b"\xff\xd8\xff\x00\x00\x04" + _jpeg_sof(3, 4)[2:],    # a stuffed 0xFF00 as a marker
    b"\xff\xd8\xff\x10\x00\x04" + _jpeg_sof(3, 4)[2:],    # a reserved marker
    b"\xff\xd8\xff\xe0\x00\x01" + _jpeg_sof(3, 4)[2:],    # a segment length below 2
    b"\xff\xd8\xff\xc0\x00\x05\x08\x00\x04\x00\x03",       # a SOF too short to hold a size
    b"\xff\xd8" + b"\xff" * 100 + _jpeg_sof(3, 4)[2:],    # more fill than any encoder writes
    b"\xff\xd8" + b"\xff\xfe\x00\x02" * 2000 + _jpeg_sof(3, 4)[2:],  # 2000 segments first
])
def test_broken_jpeg_headers_are_unknown(data: bytes) -> None:
    assert image_size(data) is None


@pytest.mark.parametrize("filler", [b"\xff", b"\xff\xfe\x00\x02", b"\xff\xd0"])
def test_jpeg_headers_give_up_after_a_bounded_scan(filler: bytes) -> None:
    # Read on the event loop (a request's cost): 8 MB of fill or empty segments took
    # seconds with a byte-by-byte scan.  The scan stops at 64 fill bytes or 1024
    # segments: a frame header that comes later is not looked for.
    data = b"\xff\xd8" + filler * (8_000_000 // len(filler)) + _jpeg_sof(3, 4)[2:]
    assert image_size(data) is None


# ------------------------------------------------------------------------ BMP

@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "RGBA"])
def test_bmp_of_every_pillow_mode(mode: str) -> None:
    assert_size(pil_encode(pil_image(mode), "BMP"))


@pytest.mark.parametrize("gray", [False, True])
def test_bmp_from_opencv(bgr: np.ndarray, gray: bool) -> None:
    assert_size(cv2_encode(".bmp", cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if gray else bgr))


def test_os2_bmp(bgr: np.ndarray) -> None:
    assert_size(bmp_24(bgr, "core"))


def test_top_down_bmp_has_a_negative_height(bgr: np.ndarray) -> None:
    data = bmp_24(bgr, top_down=True)
    assert struct.unpack_from("<i", data, 22)[0] == -HEIGHT
    assert_size(data)
    np.testing.assert_array_equal(cv2.imdecode(np.frombuffer(data, np.uint8), -1), bgr)


def test_bmp_declaring_the_most_negative_height() -> None:
    data = bytearray(bmp_24(np.zeros((1, 1, 3), np.uint8)))
    struct.pack_into("<ii", data, 18, 3, -2**31)
    assert image_size(bytes(data)) == (3, 2**31)


def test_truncated_bmp_is_unknown(bgr: np.ndarray) -> None:
    assert image_size(bmp_24(bgr)[:25]) is None
    assert image_size(bmp_24(bgr, "core")[:21]) is None


# ----------------------------------------------------------------------- WebP

def test_webp_lossy_and_lossless_from_opencv(bgr: np.ndarray) -> None:
    lossy = cv2_encode(".webp", bgr, [cv2.IMWRITE_WEBP_QUALITY, 80])
    lossless = cv2_encode(".webp", bgr, [cv2.IMWRITE_WEBP_QUALITY, 101])
    assert (lossy[12:16], lossless[12:16]) == (b"VP8 ", b"VP8L")
    assert_size(lossy)
    assert_size(lossless)


@pytest.mark.parametrize(("mode", "options", "chunk"), [
    ("RGB", {"lossless": False}, b"VP8 "),
    ("RGB", {"lossless": True}, b"VP8L"),
    ("RGBA", {"lossless": False}, b"VP8X"),  # lossy with alpha: VP8X + ALPH + VP8
    ("RGB", {"lossless": False, "exif": b"Exif\0\0MM\0*\0\0\0\x08\0\0"}, b"VP8X"),
    ("RGBA", {"lossless": True, "exif": b"Exif\0\0MM\0*\0\0\0\x08\0\0"}, b"VP8X"),
])
def test_webp_simple_and_extended_from_pillow(mode: str, options: dict[str, object],
                                              chunk: bytes) -> None:
    data = pil_encode(pil_image(mode), "WEBP", **options)
    assert data[12:16] == chunk
    assert_size(data)


@pytest.mark.parametrize("size", [(1, 1), (16384, 16384), (2**24, 3)])
def test_webp_vp8x_declares_24_bit_sizes(size: tuple[int, int]) -> None:
    data = bytearray(pil_encode(pil_image("RGBA"), "WEBP"))
    data[24:27] = (size[0] - 1).to_bytes(3, "little")
    data[27:30] = (size[1] - 1).to_bytes(3, "little")
    assert image_size(bytes(data)) == size


@pytest.mark.parametrize("data", [
    b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0\x06\0\0",  # VP8X cut inside the canvas size
    b"RIFF\0\0\0\0WEBPVP8 \0\0\0\0\0\0\0\x9d\x01\x2a",   # VP8 cut before the frame size
    b"RIFF\0\0\0\0WEBPVP8L\0\0\0\0\x2f\0",              # VP8L cut inside the size bits
    b"RIFF\0\0\0\0WEBPALPH" + b"\0" * 20,               # not an image chunk first
    b"RIFF\0\0\0\0WAVEfmt " + b"\0" * 20,               # RIFF, but not WebP
])
def test_broken_webp_headers_are_unknown(data: bytes) -> None:
    assert image_size(data) is None


# ----------------------------------------------------------------------- TIFF

@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_little_endian_tiff_from_opencv(bgr: np.ndarray, channels: int, dtype: type) -> None:
    img: np.ndarray = {1: cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), 3: bgr,
                       4: cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)}[channels].astype(dtype)
    data = cv2_encode(".tiff", img)
    assert data[:4] == b"II*\0"
    assert_size(data)


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "F"])
@pytest.mark.parametrize("compression", [None, "tiff_lzw", "tiff_deflate", "packbits"])
def test_tiff_of_every_pillow_mode(mode: str, compression: str | None) -> None:
    assert_size(pil_encode(pil_image(mode), "TIFF", compression=compression))


def test_big_endian_tiff_from_pillow() -> None:
    gray16 = np.arange(WIDTH * HEIGHT, dtype=">u2").reshape(HEIGHT, WIDTH) * 1000
    data = pil_encode(Image.frombytes("I;16B", (WIDTH, HEIGHT), gray16.tobytes()), "TIFF")
    assert data[:4] == b"MM\0*"
    assert_size(data)


def tiff(order: str, entries: list[tuple[int, int, int, bytes]], tail: bytes = b"") -> bytes:
    """A TIFF with one IFD of ``entries`` (tag, type, count, 4-byte value) at offset 8."""
    out = (b"II*\0" if order == "<" else b"MM\0*") + struct.pack(order + "IH", 8, len(entries))
    for tag, kind, count, value in entries:
        out += struct.pack(order + "HHI", tag, kind, count) + value
    return out + b"\0\0\0\0" + tail


def short(order: str, value: int) -> bytes:
    return struct.pack(order + "H", value) + b"\0\0"


def long(order: str, value: int) -> bytes:
    return struct.pack(order + "I", value)


def gray_tiff(order: str, width: int, height: int, kind: int = 3,
              before: list[tuple[int, int, int, bytes]] | None = None,
              after: list[tuple[int, int, int, bytes]] | None = None) -> bytes:
    """An uncompressed 8-bit gray TIFF that libtiff decodes, with entries ``before``
    and ``after`` its own."""
    def dim(v: int) -> bytes:
        return short(order, v) if kind == 3 else long(order, v)

    entries = [*(before or []),
               (256, kind, 1, dim(width)), (257, kind, 1, dim(height)),
               (258, 3, 1, short(order, 8)), (259, 3, 1, short(order, 1)),
               (262, 3, 1, short(order, 1)), (273, 4, 1, b""), (277, 3, 1, short(order, 1)),
               (278, kind, 1, dim(height)), (279, 4, 1, long(order, width * height)),
               *(after or [])]
    pixels_at = 8 + 2 + 12 * len(entries) + 4
    entries = [(t, k, n, long(order, pixels_at) if t == 273 else v) for t, k, n, v in entries]
    return tiff(order, entries, bytes(range(width * height)))


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("kind", [3, 4])  # ImageWidth/ImageLength as SHORT or LONG
def test_tiff_in_both_byte_orders_and_size_types(order: str, kind: int) -> None:
    assert_size(gray_tiff(order, WIDTH, HEIGHT, kind))


@pytest.mark.parametrize("order", ["<", ">"])
def test_a_repeated_tiff_size_tag_counts_as_libtiff_counts_it(order: str) -> None:
    # libtiff takes the first entry of a tag, wherever it is; reading the last let a file
    # declare 7x5 while libtiff allocated 30000x5 (or 30000x30000).
    first = gray_tiff(order, WIDTH, HEIGHT, before=[(256, 3, 1, short(order, 3))])
    assert image_size(first) == decoded_size(first) == (3, HEIGHT)
    last = gray_tiff(order, WIDTH, HEIGHT, after=[(256, 3, 1, short(order, 3))])
    assert image_size(last) == decoded_size(last) == (WIDTH, HEIGHT)
    big_first = gray_tiff(order, WIDTH, HEIGHT, before=[(256, 4, 1, long(order, 30000))])
    assert image_size(big_first) == (30000, HEIGHT)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize(("kind", "count"), [(1, 1), (2, 4), (8, 1), (16, 1), (3, 2), (4, 0)])
def test_tiff_sizes_of_other_types_or_counts_are_unknown(order: str, kind: int,
                                                         count: int) -> None:
    data = tiff(order, [(256, kind, count, long(order, 9)), (257, 3, 1, short(order, 9))])
    assert image_size(data) is None


@pytest.mark.parametrize("data", [
    b"II*\0",
    b"II*\0\x08\0\0\0",                             # no IFD count
    b"II*\0\xff\xff\xff\x7f" + b"\0" * 20,           # IFD beyond the data
    b"II*\0\x08\0\0\0\x02\0" + b"\0" * 12,           # two entries announced, one there
    tiff("<", [(256, 3, 1, short("<", 9))]),        # no ImageLength
    tiff(">", [(257, 4, 1, long(">", 9))]),         # no ImageWidth
    b"II+\0\x08\0\0\0" + b"\0" * 16,                 # BigTIFF
])
def test_broken_tiff_headers_are_unknown(data: bytes) -> None:
    assert image_size(data) is None


def test_tiff_with_the_most_entries_is_read_whole() -> None:
    # 65535 entries without a size: read (vectorised) to the end, and unknown.
    data = b"II*\0" + struct.pack("<IH", 8, 65535) + b"\0" * 12 * 65535
    assert image_size(data) is None


# -------------------------------------------------------------------- unknown

@pytest.mark.parametrize("data", [
    b"", b"\x89PNG", b"GIF89a\x07\x00\x05\x00", b"P6\n7 5\n255\n", b"\0" * 64,
    b"BM", b"RIFF", b"\xff", b"<svg></svg>", b"II*", b"MM\0",
])
def test_unknown_or_too_short_data_has_no_size(data: bytes) -> None:
    assert image_size(data) is None


# ---------------------------------------------------------- png_for_decoding

def test_a_still_png_is_decoded_as_it_is(bgr: np.ndarray) -> None:
    data = cv2_encode(".png", bgr)
    assert png_for_decoding(data) is data


@pytest.mark.parametrize("declared", [0xFFFFFFF0, 2**31, 1000])
def test_a_png_chunk_longer_than_the_data_is_not_decoded(declared: int) -> None:
    # OpenCV 4.11 allocates and zero-fills a chunk's declared length before reading it:
    # this 49-byte file cost 4 GB and seconds.
    data = _png_header(1, 1) + struct.pack(">I", declared) + b"tEXt" + b"\0" * 8
    assert png_for_decoding(data) is None


def test_a_png_ihdr_declaring_a_huge_length_is_not_decoded() -> None:
    data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 0xFFFFFFF0) + b"IHDR" + b"\0" * 17
    assert png_for_decoding(data) is None


def test_a_png_that_ends_before_its_image_data_is_not_decoded(bgr: np.ndarray) -> None:
    data = cv2_encode(".png", bgr)
    idat = data.index(b"IDAT") - 4
    assert png_for_decoding(data[:idat]) is None
    assert png_for_decoding(data[:idat + 12]) is None  # inside the IDAT
    assert png_for_decoding(data[:-12]) == data[:-12]  # no IEND: libpng's to judge


def test_a_png_of_endless_chunks_before_its_image_data_is_not_decoded() -> None:
    data = _png_header(1, 1) + _png_chunk(b"tEXt", b"") * 5000 + _png_chunk(b"IDAT", b"")
    assert png_for_decoding(data) is None


def test_an_animated_png_is_decoded_as_its_default_image() -> None:
    frames = [pil_image("RGB"), pil_image("RGB").rotate(180)]
    data = pil_encode(frames[0], "PNG", save_all=True, append_images=frames[1:], blend=1)
    still = png_for_decoding(data)
    assert still is not None and b"acTL" in data and b"fdAT" in data
    before_idat = still[:still.index(b"IDAT")]
    assert b"acTL" not in before_idat and b"fcTL" not in before_idat
    assert len(still) == len(data) - 20 - 38  # acTL and the first frame's fcTL
    img = cv2.imdecode(np.frombuffer(still, np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(img[:, :, ::-1], np.asarray(frames[0]))
    assert image_size(data) == image_size(still) == (WIDTH, HEIGHT)


def test_png_for_decoding_takes_only_png() -> None:
    assert png_for_decoding(b"\xff\xd8\xff\xe0") is None
