"""Fuzzing the request-validation and image-decoding paths with hypothesis.

Targets, each under a fixed example budget (:data:`EXAMPLES`, >= 10,000 in all):

1. Image decoding (``header.image_size``, ``image.decode_image``, ``convert.decode``):
   arbitrary bytes, with and without a format's signature in front; real images
   (PNG and animated PNG, JPEG baseline/progressive with EXIF/ICC/COM segments,
   BMP incl. OS/2 and top-down, WebP lossy/lossless/VP8X, TIFF little- and
   big-endian; gray, alpha, palette, 1-bit, CMYK, 16-bit, float with NaN/inf) made
   with OpenCV, Pillow or by hand from small random arrays; the same images
   mutated (bit flips, bytes set, truncation, spliced or duplicated ranges,
   deletions, 16/32-bit fields overwritten with edge values); their headers'
   width/height fields overwritten with edge values (0, 1, 1024, 50000, 2**31,
   2**32 - 1, ...); raw pixels of any size (up to uint32 max), channel order
   (known, unknown, negative) and length.
   Expected: BGR uint8 (H, W, 3), or InvalidInput with an image reason and a
   message free of library internals; never another exception, never a hang.
   ``image_size`` never raises; whenever a decode succeeds, the decoded size is
   the size the header declared (the limits are checked against the header, so a
   header that under-reports would let a small file allocate a large image).
2. The servicers (Ocr, Detect, Classify, Recognize, GetServerInfo) over the fake
   Inference, with small limits: requests of 0-8 images of those kinds, or 63-70
   cheap ones around the limit of 64, with every parameter set or unset, in range
   or anything the wire carries (NaN, +-inf, subnormals, negatives, huge, 0,
   uint32 max, unknown enum numbers, odd slot names such as "rec:" or ":",
   unicode, 1 KB strings), any priority, use_angle_cls set or unset, and any of
   several slot sets.  Expected: one result per image (OK, or an error Status
   INVALID_ARGUMENT with an image/detector reason; never INTERNAL, since the fake
   engine never fails), or a request-level OcrError INVALID_ARGUMENT or NOT_FOUND
   (with the field set and named in the message) or RESOURCE_EXHAUSTED.
   GetServerInfo's defaults, sent back as a request's parameters, are accepted.
3. Every OcrError the fuzzers meet goes through ``status_of``: it serializes and
   the client's ``from_status`` reads back the same code, reason, field, metadata.

Hypothesis draws the kind of each input and a seed; a seeded generator makes the
bulk (pixels, encoder options, mutations, parameter values), since a hypothesis
draw per value would cost more than the whole check.  A failure prints the input.

Deterministic: ``derandomize=True`` and no example database, so CI runs the same
examples every time.  Every example runs under a hard timeout (:data:`HANG_S`) in
a worker thread, so that a hang, in OpenCV or on the event loop, fails the test.
The bound is generous on purpose: it catches a hang or a decompression bomb (which
takes far longer), not a slow machine.  Hypothesis' own deadline is off (timings on
a loaded 2-core CI machine vary too much for it).
"""
from __future__ import annotations

import asyncio
import dataclasses
import io
import math
import random
import struct
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np
import pytest
from conftest import FakeContext, FakeInference
from google.rpc import status_pb2
from handmade_images import bmp_24
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage

from ocrclient._errors import from_status
from ocrclient.proto.ocr.v1 import ocr_pb2 as pb
from ocrserve.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    InvalidInput,
    ModelError,
    NotFound,
    OcrError,
    Reason,
    ResourceExhausted,
    Unavailable,
)
from ocrserve.frontend import convert
from ocrserve.frontend.errors import status_of
from ocrserve.frontend.servicer import OcrServicer
from ocrserve.ops.header import image_size
from ocrserve.ops.image import JPEG_MAX_SCANS, decode_image
from ocrserve.pipeline import Pipeline
from ocrserve.settings import Settings

T = TypeVar("T")

#: examples per target; the sum is the issue's ">= 10,000 generated inputs"
EXAMPLES = {
    "arbitrary_bytes": 2500,
    "encoded": 1000,
    "mutated": 2400,
    "declared_size": 800,
    "raw": 1200,
    "image_message": 400,
    "Ocr": 500,
    "Detect": 300,
    "Classify": 200,
    "Recognize": 200,
    "GetServerInfo": 100,
    "status": 400,
}
#: a call that takes longer than this is a hang (the examples are small: they need
#: milliseconds, and even a loaded CI machine stays far below this)
HANG_S = 30.0
#: max_image_pixels of the decoding targets and the fuzzed server: small, so that the
#: images a header may declare stay cheap to decode
MAX_PIXELS = 1024 * 1024

IMAGE_REASONS = frozenset({Reason.IMAGE_EMPTY, Reason.IMAGE_UNDECODABLE,
                           Reason.IMAGE_TOO_LARGE, Reason.IMAGE_SIZE_MISMATCH})
#: what a caller's message must never show (library internals)
INTERNALS = ("cv::", "cv2", "OpenCV", "error: (-", "Traceback", "assert", 'File "', "numpy.",
             "<class", "libpng", "libjpeg", "libtiff", "TIFFRead", "Errno")
EDGE_DIMS = (0, 1, 2, 3, 31, 32, 33, 255, 256, 1023, 1024, 1025, 4096, 16383, 16384, 50000,
             65535, 65536, 2**24 - 1, 2**24, 2**31 - 1, 2**31, 2**32 - 1)
UINT32_MAX = 2**32 - 1


def fuzz(target: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return settings(max_examples=EXAMPLES[target], derandomize=True, database=None,
                    deadline=None, print_blob=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much,
                                           HealthCheck.large_base_example,
                                           HealthCheck.function_scoped_fixture])


def test_the_fuzzers_generate_at_least_ten_thousand_inputs() -> None:
    assert sum(EXAMPLES.values()) >= 10_000


# ------------------------------------------------------------------- guards
# Every example runs in one worker thread, so that a hang, even one inside OpenCV or
# one that blocks the event loop, fails the test instead of stalling it.  The servicer
# examples run on an event loop that lives in that thread.

_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fuzz-example")
_LOOP: list[asyncio.Runner] = []


def guarded(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in the worker: a hang past HANG_S fails the test."""
    future = _WORKER.submit(fn, *args)
    try:
        return future.result(timeout=HANG_S)
    except TimeoutError:
        pytest.fail(f"hang: {fn.__name__} ran over {HANG_S} s")


def _run_in_loop(coroutine: Any) -> Any:
    if not _LOOP:
        _LOOP.append(asyncio.Runner())
    return _LOOP[0].run(asyncio.wait_for(coroutine, HANG_S))


def serve(handler: Callable[[Any, Any], Any], request: Any) -> Any:
    """``handler(request, context)`` on the worker's event loop."""
    try:
        return guarded(_run_in_loop, handler(request, FakeContext()))
    except TimeoutError:  # asyncio.wait_for's
        pytest.fail(f"hang: the handler ran over {HANG_S} s")


@pytest.fixture(scope="module", autouse=True)
def _close_the_loop() -> Iterator[None]:
    yield
    if _LOOP:
        _WORKER.submit(_LOOP.pop().close).result(timeout=HANG_S)


def describe(error: OcrError) -> str:
    return (f"{type(error).__name__} {error.status} {error.reason} field={error.field!r}: "
            f"{error.message!r}")


def check_clear(error: OcrError) -> None:
    """A caller can act on ``error``: a plain message, and a Status that survives the wire."""
    message = error.public_message
    assert message.strip(), describe(error)
    for word in INTERNALS:
        assert word not in message, describe(error)
    check_status_round_trip(error)


def check_status_round_trip(error: OcrError) -> None:
    """status_of serializes, and the client reads back code, reason, field and metadata."""
    wire = status_of(error).SerializeToString()
    back = from_status(status_pb2.Status.FromString(wire))
    assert back.code == error.status, describe(error)
    assert back.reason == str(error.reason), describe(error)
    assert back.details == (error.public_message or error.status)  # the client's fallback
    assert back.metadata == error.metadata
    assert [v.field for v in back.field_violations] == ([] if error.field is None
                                                        else [error.field])
    if error.retry_after_s is None:
        assert back.retry_delay is None
    else:
        assert back.retry_delay == pytest.approx(error.retry_after_s, abs=1e-3)


def check_bgr(out: object) -> np.ndarray:
    assert isinstance(out, np.ndarray), type(out)
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3, (out.dtype, out.shape)
    assert out.shape[0] >= 1 and out.shape[1] >= 1, out.shape
    return out


def check_size(data: bytes) -> tuple[int, int] | None:
    size = image_size(data)
    assert size is None or (len(size) == 2 and all(isinstance(n, int) and n >= 0 for n in size))
    return size


def decode_or_refusal(fn: Callable[..., np.ndarray], *args: Any) -> np.ndarray | OcrError:
    """BGR uint8 (H, W, 3), or the image's InvalidInput; anything else propagates (a crash)."""
    try:
        out = fn(*args)
    except OcrError as exc:
        assert isinstance(exc, InvalidInput) and exc.status == "INVALID_ARGUMENT", describe(exc)
        assert exc.reason in IMAGE_REASONS, describe(exc)
        check_clear(exc)
        return exc
    return check_bgr(out)


def check_encoded(data: bytes, *, must_decode: bool = False) -> np.ndarray | OcrError:
    """Every decoding entry point on ``data``, and how they must agree."""
    size = check_size(data)
    direct = decode_or_refusal(decode_image, data, MAX_PIXELS)
    if isinstance(direct, OcrError):
        assert not must_decode, describe(direct)
        if size is None:
            assert direct.reason in (Reason.IMAGE_EMPTY, Reason.IMAGE_UNDECODABLE)
        elif size[0] * size[1] > MAX_PIXELS:  # refused on the header alone
            assert direct.reason == Reason.IMAGE_TOO_LARGE, describe(direct)
        return direct
    # decoded, so the header was read: and it must have said the size the decoder made
    assert size == (direct.shape[1], direct.shape[0]), (size, direct.shape)
    return direct


# --------------------------------------------------------------- pixel data
# Hypothesis picks the kind of input and a seed; a seeded numpy generator fills in the
# bulk (pixels, encoder options, mutation offsets).  Drawing each of those through
# hypothesis would cost ~0.2 ms a draw and leave no time for 10,000 examples.  A failure
# still prints the generated bytes, and re-runs them: the seed is part of the example.

SEEDS = st.integers(0, UINT32_MAX)


class Dice:
    """A seeded source of choices (Python's generator: cheaper per call than numpy's)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.random = random.Random(seed)

    @property
    def rng(self) -> np.random.Generator:
        """A numpy generator from the same seed, for whole arrays."""
        return np.random.default_rng(self.seed)

    def pick(self, options: Sequence[T]) -> T:
        return options[self.random.randrange(len(options))]

    def coin(self, p: float = 0.5) -> bool:
        return self.random.random() < p

    def between(self, low: int, high: int) -> int:
        """Uniform in [low, high], small values favoured half the time."""
        if self.coin():
            high = min(high, low + 3)
        return self.random.randint(low, high)

    def uniform(self, low: float, high: float) -> float:
        return self.random.uniform(low, high)

    def bytes(self, size: int) -> bytes:
        return self.random.randbytes(size)


def pixels(dice: Dice, max_side: int = 24) -> np.ndarray:
    """A small BGR uint8 array: noise, flat, a gradient, or "text" (black boxes on white)."""
    height, width = dice.between(1, max_side), dice.between(1, max_side)
    pattern = dice.pick(["noise", "flat", "gradient", "text"])
    if pattern == "noise":
        return np.frombuffer(dice.bytes(height * width * 3), np.uint8).reshape(
            height, width, 3).copy()
    if pattern == "flat":
        return np.full((height, width, 3), list(dice.bytes(3)), np.uint8)
    if pattern == "gradient":
        ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
        return np.broadcast_to(ramp, (height, width, 3)).astype(np.uint8).copy()
    img = np.full((height, width, 3), 255, np.uint8)
    for _ in range(dice.between(1, 3)):
        y, x = dice.random.randrange(height), dice.random.randrange(width)
        img[y:y + dice.between(2, 12), x:x + dice.between(4, 40)] = 0
    return img


def _gray(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)


def _alpha(bgr: np.ndarray) -> np.ndarray:
    alpha = np.linspace(0, 255, bgr.shape[1], dtype=np.float32)[None, :, None]
    return np.concatenate([bgr, np.broadcast_to(alpha, (*bgr.shape[:2], 1)).astype(np.uint8)], 2)


def _channels(bgr: np.ndarray, channels: int) -> np.ndarray:
    return {1: _gray, 3: lambda a: a, 4: _alpha}[channels](bgr)


# ----------------------------------------------------------------- encoders
# Each takes the dice and a BGR array and returns the encoded bytes.

def _cv2(ext: str, img: np.ndarray, params: list[int] | None = None) -> bytes:
    ok, buf = cv2.imencode(ext, img, params or [])
    assert ok
    return buf.tobytes()


def cv2_png(dice: Dice, bgr: np.ndarray) -> bytes:
    img = _channels(bgr, dice.pick([1, 3, 4]))
    if dice.coin():  # 16-bit
        img = img.astype(np.uint16) * 257
    return _cv2(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, dice.between(0, 9)])


def cv2_jpeg(dice: Dice, bgr: np.ndarray) -> bytes:
    img = _channels(bgr, dice.pick([1, 3]))
    return _cv2(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, dice.between(1, 100),
                              cv2.IMWRITE_JPEG_PROGRESSIVE, int(dice.coin()),
                              cv2.IMWRITE_JPEG_OPTIMIZE, int(dice.coin())])


def cv2_bmp(dice: Dice, bgr: np.ndarray) -> bytes:
    return _cv2(".bmp", _channels(bgr, dice.pick([1, 3])))


def cv2_webp(dice: Dice, bgr: np.ndarray) -> bytes:
    img = _channels(bgr, dice.pick([3, 4]))
    return _cv2(".webp", img, [cv2.IMWRITE_WEBP_QUALITY, dice.pick([1, 50, 100, 101])])


def cv2_tiff(dice: Dice, bgr: np.ndarray) -> bytes:
    img: np.ndarray = _channels(bgr, dice.pick([1, 3, 4]))
    depth = dice.pick(["u8", "u16", "f32"])
    if depth == "u16":
        img = img.astype(np.uint16) * 257
    elif depth == "f32":
        img = img.astype(np.float32) / 255
        if dice.coin():  # samples a float image can hold but no 8-bit one can
            special = dice.pick([math.nan, math.inf, -math.inf, -1.0, 1e30, 3.4e38])
            img.reshape(-1)[dice.between(0, img.size - 1)] = special
    compression = dice.pick([1, 5, 8, 32773])  # none, LZW, deflate, PackBits
    return _cv2(".tiff", img, [cv2.IMWRITE_TIFF_COMPRESSION, compression])


def _pil(bgr: np.ndarray, mode: str) -> PILImage.Image:
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    if mode == "RGBA":
        return PILImage.fromarray(_alpha(rgb), "RGBA")
    if mode == "LA":
        return PILImage.fromarray(np.ascontiguousarray(_alpha(bgr)[:, :, [0, 3]]), "LA")
    if mode in ("I;16", "I;16B"):
        gray16 = _gray(bgr).astype(np.uint16) * 257
        dtype = "<u2" if mode == "I;16" else ">u2"
        return PILImage.frombytes(mode, (bgr.shape[1], bgr.shape[0]),
                                  gray16.astype(dtype).tobytes())
    if mode == "F":
        return PILImage.fromarray(_gray(bgr).astype(np.float32) / 255, "F")
    return PILImage.fromarray(rgb, "RGB").convert(mode)


def _save(img: PILImage.Image, fmt: str, **options: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def pil_png(dice: Dice, bgr: np.ndarray) -> bytes:
    mode = dice.pick(["1", "L", "LA", "P", "RGB", "RGBA", "I;16"])
    return _save(_pil(bgr, mode), "PNG", compress_level=dice.between(0, 9))


def pil_apng(dice: Dice, bgr: np.ndarray) -> bytes:
    """An animated PNG (acTL, fcTL, fdAT chunks) of two or three frames."""
    frames = [_pil(bgr, "RGBA" if dice.coin() else "RGB")]
    frames += [PILImage.fromarray(np.ascontiguousarray(np.roll(bgr, k, 1)[:, :, ::-1]))
               .convert(frames[0].mode) for k in range(1, dice.between(2, 3))]
    return _save(frames[0], "PNG", save_all=True, append_images=frames[1:],
                 duration=dice.between(1, 100), disposal=dice.between(0, 2),
                 blend=dice.between(0, 1), default_image=dice.coin())


def pil_jpeg(dice: Dice, bgr: np.ndarray) -> bytes:
    img = _pil(bgr, dice.pick(["L", "RGB", "CMYK"]))
    options: dict[str, Any] = {"quality": dice.between(1, 95), "progressive": dice.coin(),
                               "optimize": dice.coin()}
    if img.mode == "RGB":
        options["subsampling"] = dice.pick([0, 1, 2])
    if dice.coin():  # APP1 before the SOF
        exif = PILImage.Exif()
        exif[0x0112] = dice.between(1, 8)  # orientation: not applied (IMREAD_UNCHANGED)
        exif[0x010F] = "fuzz"
        options["exif"] = exif.tobytes()
    if dice.coin():  # COM before the SOF
        options["comment"] = dice.bytes(dice.between(1, 300))
    if dice.coin():  # APP2 ICC_PROFILE before the SOF
        options["icc_profile"] = dice.bytes(dice.between(1, 300))
    return _save(img, "JPEG", **options)


def pil_bmp(dice: Dice, bgr: np.ndarray) -> bytes:
    return _save(_pil(bgr, dice.pick(["1", "L", "P", "RGB", "RGBA"])), "BMP")


def pil_webp(dice: Dice, bgr: np.ndarray) -> bytes:
    img = _pil(bgr, dice.pick(["RGB", "RGBA"]))
    options: dict[str, Any] = {"lossless": dice.coin(), "quality": dice.between(0, 100),
                               "method": 0}
    if dice.coin():  # VP8X
        exif = PILImage.Exif()
        exif[0x010F] = "fuzz"
        options["exif"] = exif.tobytes()
    return _save(img, "WEBP", **options)


def pil_tiff(dice: Dice, bgr: np.ndarray) -> bytes:
    mode = dice.pick(["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I;16B", "F"])
    compression = dice.pick([None, "tiff_lzw", "tiff_deflate", "packbits"])
    return _save(_pil(bgr, mode), "TIFF", compression=compression)


def tiff_bytes(img: np.ndarray, order: str = "<", dim_kind: int = 3) -> bytes:
    """An uncompressed one-strip TIFF of uint8 gray (H, W) or BGR (H, W, 3) samples, with
    ImageWidth, ImageLength and RowsPerStrip as SHORT (3) or LONG (4)."""
    height, width = img.shape[:2]
    samples = 1 if img.ndim == 2 else img.shape[2]

    def short(v: int) -> bytes:
        return struct.pack(order + "H", v) + b"\0\0"

    def long(v: int) -> bytes:
        return struct.pack(order + "I", v)

    def dim(v: int) -> bytes:
        return short(v) if dim_kind == 3 else long(v)

    count = 9
    bits_at = 8 + 2 + 12 * count + 4  # BitsPerSample of RGB: three SHORTs after the IFD
    pixels_at = bits_at + 8
    entries = [(256, dim_kind, 1, dim(width)), (257, dim_kind, 1, dim(height)),
               (258, 3, 1, short(8)) if samples == 1 else (258, 3, 3, long(bits_at)),
               (259, 3, 1, short(1)), (262, 3, 1, short(1 if samples == 1 else 2)),
               (273, 4, 1, long(pixels_at)), (277, 3, 1, short(samples)),
               (278, dim_kind, 1, dim(height)), (279, 4, 1, long(img.size))]
    out = (b"II*\0" if order == "<" else b"MM\0*") + long(8) + struct.pack(order + "H", count)
    for tag, kind, n, value in entries:
        out += struct.pack(order + "HHI", tag, kind, n) + value
    out += b"\0\0\0\0" + struct.pack(order + "HHHH", 8, 8, 8, 0)
    return out + np.ascontiguousarray(img[:, :, ::-1] if samples == 3 else img).tobytes()


def hand_tiff(dice: Dice, bgr: np.ndarray) -> bytes:
    img = _gray(bgr) if dice.coin() else bgr
    return tiff_bytes(img, dice.pick(["<", ">"]), dice.pick([3, 4]))


def hand_bmp(dice: Dice, bgr: np.ndarray) -> bytes:
    header = dice.pick(["core", "info"])
    return bmp_24(bgr, header, top_down=header == "info" and dice.coin())


ENCODERS = (cv2_png, cv2_jpeg, cv2_bmp, cv2_webp, cv2_tiff, pil_png, pil_apng, pil_jpeg,
            pil_bmp, pil_webp, pil_tiff, hand_tiff, hand_bmp)


def encode(encoder: Callable[[Dice, np.ndarray], bytes], seed: int, max_side: int) -> bytes:
    dice = Dice(seed)
    return encoder(dice, pixels(dice, max_side))


def encoded_images(max_side: int = 24) -> st.SearchStrategy[bytes]:
    return st.builds(encode, st.sampled_from(ENCODERS), SEEDS, st.just(max_side))


# ---------------------------------------------------------------- mutations

MUTATIONS = ("flip", "set", "truncate", "insert", "delete", "duplicate", "field")


def mutate(data: bytes, ops: Sequence[str], seed: int) -> bytes:
    dice = Dice(seed)
    out = bytearray(data)

    def position() -> int:  # half the time inside the first 64 bytes: the header
        end = min(64, len(out)) if dice.coin() else len(out)
        return dice.random.randrange(max(1, end))

    for op in ops:
        at = position()
        if op == "flip" and out:
            out[at] ^= 1 << dice.between(0, 7)
        elif op == "set" and out:
            out[at] = dice.pick([0, 0xFF, 0x7F, 0x80, dice.between(0, 255)])
        elif op == "truncate":
            del out[at:]
        elif op == "insert":
            out[at:at] = dice.bytes(dice.between(1, 64))
        elif op == "delete":
            del out[at:at + dice.between(1, 64)]
        elif op == "duplicate":
            start = position()
            out[at:at] = out[start:start + dice.between(1, 64)]
        elif op == "field" and at + 4 <= len(out):
            fmt = dice.pick(["<H", ">H", "<I", ">I"])
            value = dice.pick(EDGE_DIMS) & (0xFFFF if fmt.endswith("H") else UINT32_MAX)
            struct.pack_into(fmt, out, at, value)
    return bytes(out)


def mutated_image(encoder: Callable[[Dice, np.ndarray], bytes], seed: int,
                  max_side: int) -> bytes:
    """An encoded image with one to four mutations, all from one seed (a draw apiece
    would double the example's cost)."""
    dice = Dice(seed ^ 0x5EED)
    ops = [dice.pick(MUTATIONS) for _ in range(dice.between(1, 4))]
    return mutate(encode(encoder, seed, max_side), ops, seed)


def mutated_images(max_side: int = 24) -> st.SearchStrategy[bytes]:
    return st.builds(mutated_image, st.sampled_from(ENCODERS), SEEDS, st.just(max_side))


SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", b"\xff\xd8",
              b"\xff\xd8\xff\xc0\0\x11\x08", b"BM", b"RIFF\0\0\0\0WEBP",
              b"RIFF\0\0\0\0WEBPVP8 ", b"RIFF\0\0\0\0WEBPVP8L", b"RIFF\0\0\0\0WEBPVP8X",
              b"II*\0", b"MM\0*", b"II*\0\x08\0\0\0", b"MM\0*\0\0\0\x08", b"GIF89a",
              b"II+\0")


def arbitrary_bytes() -> st.SearchStrategy[bytes]:
    prefixes = st.one_of(st.just(b""), st.sampled_from(SIGNATURES))
    return st.builds(bytes.__add__, prefixes, st.binary(max_size=2048))


# --------------------------------------------------- declared (header) sizes

def _jpeg_sof(data: bytes) -> int:
    """Offset of the SOF marker of an encoder's (well-formed) JPEG."""
    offset = 2
    while data[offset + 1] not in (0xC0, 0xC1, 0xC2):
        offset += 2 + struct.unpack_from(">H", data, offset + 2)[0]
    return offset


def _tiff_dims(data: bytes) -> dict[int, tuple[int, int]]:
    """tag -> (offset of its value, kind) for ImageWidth and ImageLength of IFD0."""
    order = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack_from(order + "I", data, 4)
    (count,) = struct.unpack_from(order + "H", data, ifd)
    found = {}
    for entry in range(count):
        tag, kind = struct.unpack_from(order + "HH", data, ifd + 2 + 12 * entry)
        if tag in (256, 257) and tag not in found:
            found[tag] = (ifd + 2 + 12 * entry + 8, kind)
    return found


def declare_size(data: bytes, width: int, height: int) -> tuple[bytes, tuple[int, int]]:
    """``data`` with its header's width and height fields overwritten, and the size the
    header then declares (the values clipped to what the fields can hold)."""
    out = bytearray(data)
    if data.startswith(b"\x89PNG"):
        width, height = width & UINT32_MAX, height & UINT32_MAX
        struct.pack_into(">II", out, 16, width, height)
    elif data.startswith(b"\xff\xd8"):
        width, height = width & 0xFFFF, height & 0xFFFF
        struct.pack_into(">HH", out, _jpeg_sof(data) + 5, height, width)
    elif data.startswith(b"BM"):
        if struct.unpack_from("<I", data, 14)[0] == 12:
            width, height = width & 0xFFFF, height & 0xFFFF
            struct.pack_into("<HH", out, 18, width, height)
        else:  # signed: a negative height is a top-down image of that many rows
            signed_w, signed_h = [v - 2**32 if v & 2**31 else v
                                  for v in (width & UINT32_MAX, height & UINT32_MAX)]
            struct.pack_into("<ii", out, 18, signed_w, signed_h)
            width, height = abs(signed_w), abs(signed_h)
    elif data.startswith(b"RIFF"):
        chunk = data[12:16]
        if chunk == b"VP8X":
            width, height = max(1, min(width, 2**24)), max(1, min(height, 2**24))
            out[24:27] = (width - 1).to_bytes(3, "little")
            out[27:30] = (height - 1).to_bytes(3, "little")
        elif chunk == b"VP8L":
            width, height = max(1, min(width, 2**14)), max(1, min(height, 2**14))
            (bits,) = struct.unpack_from("<I", data, 21)
            bits = (bits & ~((1 << 28) - 1)) | (width - 1) | ((height - 1) << 14)
            struct.pack_into("<I", out, 21, bits)
        else:  # VP8: 14 bits of size, 2 of scaling
            width, height = width & 0x3FFF, height & 0x3FFF
            old_w, old_h = struct.unpack_from("<HH", data, 26)
            struct.pack_into("<HH", out, 26, (old_w & 0xC000) | width, (old_h & 0xC000) | height)
    else:
        order = "<" if data[:2] == b"II" else ">"
        sizes = {256: width, 257: height}
        for tag, (at, kind) in _tiff_dims(data).items():
            if kind == 3:
                sizes[tag] &= 0xFFFF
                struct.pack_into(order + "H", out, at, sizes[tag])
            else:
                sizes[tag] &= UINT32_MAX
                struct.pack_into(order + "I", out, at, sizes[tag])
        width, height = sizes[256], sizes[257]
    return bytes(out), (width, height)


# ----------------------------------------------------- 1. image decoding

@fuzz("arbitrary_bytes")
@given(data=arbitrary_bytes())
def test_arbitrary_bytes_decode_or_are_refused_clearly(data: bytes) -> None:
    guarded(check_encoded, data)


@fuzz("encoded")
@given(data=encoded_images(max_side=32))
def test_real_images_decode_to_bgr_at_the_size_their_header_declares(data: bytes) -> None:
    guarded(_real_image, data)


def _real_image(data: bytes) -> None:
    out = check_encoded(data, must_decode=True)
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(decode_image(data), out)  # no limit: the same image
    via_message = decode_or_refusal(convert.decode, pb.Image(encoded=data), 3, MAX_PIXELS)
    assert isinstance(via_message, np.ndarray)
    np.testing.assert_array_equal(via_message, out)


@fuzz("mutated")
@given(data=mutated_images())
def test_mutated_images_decode_or_are_refused_clearly(data: bytes) -> None:
    guarded(check_encoded, data)


@fuzz("declared_size")
@given(original=encoded_images(max_side=16), width=st.sampled_from(EDGE_DIMS),
       height=st.sampled_from(EDGE_DIMS))
def test_images_declaring_any_size_are_refused_on_the_header_when_too_large(
        original: bytes, width: int, height: int) -> None:
    guarded(_declared_size, original, width, height)


def _declared_size(original: bytes, width: int, height: int) -> None:
    data, declared = declare_size(original, width, height)
    assert check_size(data) == declared
    out = check_encoded(data)
    if declared[0] * declared[1] > MAX_PIXELS:
        assert isinstance(out, OcrError) and out.reason == Reason.IMAGE_TOO_LARGE


RAW_ORDERS = (0, 1, 2, 3, 4, 5, 6, 99, 2**31 - 1, -1, -2**31)


def raw_image(width: int, height: int, order: int, length: Any, seed: int,
              max_bytes: int) -> pb.RawImage:
    """Raw pixels whose length is ``length``: "exact" (for the order), "gray", "bgr" or
    "bgra" (some order's), an offset from exact, or ("any", n)."""
    channels = {3: 1, 4: 4, 5: 4}.get(order, 3)
    if isinstance(length, tuple):
        size = length[1]
    elif isinstance(length, int):
        size = max(0, width * height * channels + length)
    else:
        size = width * height * {"exact": channels, "gray": 1, "bgr": 3, "bgra": 4}[length]
    if size > max_bytes:  # the size fields still say what they say
        size = seed % 512
    return pb.RawImage(pixels=Dice(seed).bytes(size), width=width, height=height,
                       channel_order=order)  # type: ignore[arg-type]


def random_raw_image(seed: int, max_side: int = 64) -> pb.RawImage:
    dice = Dice(seed ^ 0x7A3)
    width, height = [dice.pick([dice.between(0, max_side), dice.pick(EDGE_DIMS)])
                     for _ in range(2)]
    order = dice.pick([dice.between(0, 5), dice.pick(RAW_ORDERS)])
    length = dice.pick(["exact", "exact", "gray", "bgr", "bgra", dice.between(-4, 4),
                        ("any", dice.between(0, 512))])
    return raw_image(width, height, order, length, seed, max_side * max_side * 4)


def raw_images(max_side: int = 64) -> st.SearchStrategy[pb.RawImage]:
    return st.builds(random_raw_image, SEEDS, st.just(max_side))


@fuzz("raw")
@given(raw=raw_images(), index=st.integers(0, 70))
def test_raw_pixels_wrap_or_are_refused_clearly(raw: pb.RawImage, index: int) -> None:
    guarded(_raw_pixels, raw, index)


def _raw_pixels(raw: pb.RawImage, index: int) -> None:
    out = decode_or_refusal(convert.decode, pb.Image(raw=raw), index, MAX_PIXELS)
    if isinstance(out, OcrError):
        too_large = raw.width * raw.height > MAX_PIXELS
        if not too_large and raw.channel_order not in pb.ChannelOrder.values():
            assert out.field == f"images[{index}].raw.channel_order", describe(out)
            assert out.reason == Reason.IMAGE_UNDECODABLE
            return
        assert out.field == f"images[{index}].raw.pixels", describe(out)
        if raw.width * raw.height > MAX_PIXELS:
            assert out.reason == Reason.IMAGE_TOO_LARGE
        elif raw.width == 0 or raw.height == 0:
            assert out.reason == Reason.IMAGE_EMPTY
        else:
            assert out.reason == Reason.IMAGE_SIZE_MISMATCH
    else:
        assert out.shape == (raw.height, raw.width, 3)


IMAGE_IDS = ("", "", "a", "page-1", "ñandú", "日本", "\U0001f600", "\0", "x" * 300)
IMAGE_KINDS = ("real", "real", "mutated", "bytes", "declared", "raw", "empty", "none")


def make_image(kind: str, encoder: Callable[[Dice, np.ndarray], bytes], seed: int,
               max_side: int) -> pb.Image:
    dice = Dice(seed ^ 0x1D)
    image_id = dice.pick(IMAGE_IDS)
    if kind == "real":
        return pb.Image(encoded=encode(encoder, seed, max_side), id=image_id)
    if kind == "mutated":
        return pb.Image(encoded=mutated_image(encoder, seed, max_side), id=image_id)
    if kind == "bytes":
        data = dice.pick([b"", *SIGNATURES]) + dice.bytes(dice.between(0, 512))
        return pb.Image(encoded=data, id=image_id)
    if kind == "declared":
        data, _ = declare_size(encode(encoder, seed, 8), dice.pick(EDGE_DIMS),
                               dice.pick(EDGE_DIMS))
        return pb.Image(encoded=data, id=image_id)
    if kind == "raw":
        return pb.Image(raw=random_raw_image(seed, max_side), id=image_id)
    if kind == "empty":
        return pb.Image(encoded=b"", id=image_id)
    return pb.Image(id=image_id)


def image_messages(max_side: int = 24) -> st.SearchStrategy[pb.Image]:
    """Any one image of a request: encoded (real, mutated, arbitrary, lying about its
    size), raw, or neither."""
    return st.builds(make_image, st.sampled_from(IMAGE_KINDS), st.sampled_from(ENCODERS),
                     SEEDS, st.just(max_side))


@fuzz("image_message")
@given(image=image_messages(), index=st.integers(0, 70))
def test_any_image_message_decodes_or_names_itself(image: pb.Image, index: int) -> None:
    guarded(_image_message, image, index)


def _image_message(image: pb.Image, index: int) -> None:
    out = decode_or_refusal(convert.decode, image, index, MAX_PIXELS)
    if isinstance(out, OcrError):
        assert out.field is not None and out.field.startswith(f"images[{index}]")


# ------------------------------------------------- 2. request validation

#: small limits, so that whatever a request asks for stays cheap to serve
SERVER = Settings(host="127.0.0.1", max_image_pixels=MAX_PIXELS, max_images_per_request=64,
                  max_request_pixels=64_000_000, det_limit_side_len=64, det_max_side_len=256,
                  det_max_pixels=256 * 256, max_crops_per_image=50, det_max_candidates=50)
SLOT_SETS = [("det", "cls", "rec"), ("det", "rec"), ("det",), ("rec",), ("cls",),
             ("cls", "rec")]


def make_servicer(dictionary: Path, slots: tuple[str, ...], server: Settings = SERVER
                  ) -> OcrServicer:
    inference = FakeInference(dictionary, slots)
    return OcrServicer(Pipeline(inference, limits=server.limits()), inference,
                       server)


def test_the_fuzzed_server_settings_are_valid() -> None:
    SERVER.validate()


FLOAT_EDGES = (math.nan, math.inf, -math.inf, -0.0, 0.0, 1.0, -1.0, 1e-45, 1.0000001, 0.9999999,
               3.4e38, -3.4e38, 10.0, 10.000001, 1e30)
INT_EDGES = (0, 1, 2, 31, 32, 33, 50, 51, 255, 256, 257, 4096, 2**31 - 1, 2**31, UINT32_MAX)
ENUM_EDGES = (4, 5, 99, 2**31 - 1, -1, -2**31)
SLOT_NAMES = ("", "det", "cls", "rec", "rec:", "det:", "cls:", ":", "::", "rec:french",
              "french", "det:x", "cls:cls", "rec:rec", " rec", "REC", "rec\0", "rec:é",
              "ñandú", "日本語", "rec:" + "x" * 1024, "x" * 1024, "\U0001f600")


def optional(strategy: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    return st.one_of(st.none(), strategy)


def random_text(dice: Dice) -> str:
    """Any string protobuf can carry (no lone surrogates): ASCII, Latin, CJK, emoji,
    controls; now and then 1 KB or more."""
    size = dice.pick([dice.between(0, 24), dice.between(1000, 1100)]) if dice.coin(0.2) \
        else dice.between(0, 24)
    ranges = [(0x00, 0x7F), (0x80, 0x24F), (0x4E00, 0x9FFF), (0x1F600, 0x1F64F),
              (0xE000, 0xFFFD)]
    chars = []
    for _ in range(size):
        low, high = dice.pick(ranges)
        chars.append(chr(dice.random.randint(low, high)))
    return "".join(chars)


def random_float32(dice: Dice) -> float:
    """Any float32: an edge value, a random bit pattern (NaNs, infinities, subnormals,
    huge), or an ordinary number."""
    kind = dice.pick(["edge", "bits", "ordinary"])
    if kind == "edge":
        return dice.pick(FLOAT_EDGES)
    if kind == "bits":
        return float(np.frombuffer(dice.bytes(4), np.float32)[0])
    return float(np.float32(dice.uniform(-2, 12)))


def make_params(wild: bool, seed: int) -> dict[str, Any]:
    """Every request parameter, unset (None) or set.  Tame: in range (so that the images
    get served); wild: anything the wire can carry."""
    dice = Dice(seed)

    def maybe(value: Callable[[], Any]) -> Any:
        return None if dice.coin() else value()

    def unit() -> float:
        return random_float32(dice) if wild else float(np.float32(dice.random.random()))

    def count(high: int) -> int:
        if not wild:
            return dice.between(1, high)
        return dice.pick([dice.pick(INT_EDGES), dice.random.randint(0, UINT32_MAX)])

    def enum(known: int) -> int:
        return dice.pick([dice.between(0, known), dice.pick(ENUM_EDGES)]) if wild \
            else dice.between(0, known)

    def slot() -> str:
        if not wild:
            return dice.pick(["", "", "det", "cls", "rec"])
        return dice.pick(["", dice.pick(SLOT_NAMES), random_text(dice)])

    return {
        "detection": {
            "slot": slot(), "limit_side_len": maybe(lambda: count(256)),
            "limit_type": enum(3), "thresh": maybe(unit), "box_thresh": maybe(unit),
            "unclip_ratio": maybe(lambda: random_float32(dice) if wild
                                  else float(np.float32(dice.uniform(0.125, 10)))),
            "max_candidates": maybe(lambda: count(50)), "score_mode": enum(2),
            "use_dilation": maybe(dice.coin), "box_type": enum(2),
        },
        "classification": {"slot": slot(), "thresh": maybe(unit)},
        "recognition": {"slot": slot(), "drop_score": maybe(unit)},
        "use_angle_cls": maybe(dice.coin),
        "return_timings": dice.coin(),
        "priority": dice.pick([dice.between(0, 2), dice.pick(ENUM_EDGES)]),
    }


#: Every request parameter: half the requests in range or unset, half anything.
PARAMS = st.builds(make_params, st.booleans(), SEEDS)


def _fill(msg: Any, values: dict[str, Any]) -> Any:
    for name, value in values.items():
        if value is not None:
            setattr(msg, name, value)
    return msg


#: images that cost next to nothing to refuse or serve, to fill requests up to the limit
CHEAP_IMAGES = (pb.Image(), pb.Image(encoded=b"junk", id="junk"),
                pb.Image(raw=pb.RawImage(pixels=b"\0" * 12, width=2, height=2), id="raw"),
                pb.Image(raw=pb.RawImage(pixels=b"\xff", width=1, height=1,
                                         channel_order=pb.CHANNEL_ORDER_GRAY)))


def _many(count: int, seed: int) -> list[pb.Image]:
    dice = Dice(seed)
    return [dice.pick(CHEAP_IMAGES) for _ in range(count)]


def image_lists() -> st.SearchStrategy[list[pb.Image]]:
    """Mostly a few images of every kind; sometimes many cheap ones around the limit (64)."""
    few = st.lists(image_messages(), max_size=4)
    many = st.builds(_many, st.sampled_from([63, 64, 65, 70]), SEEDS)
    return st.one_of(few, few, few, st.lists(image_messages(), max_size=8), many)


def check_request_error(error: OcrError) -> None:
    assert error.status in ("INVALID_ARGUMENT", "NOT_FOUND", "RESOURCE_EXHAUSTED"), \
        describe(error)
    if error.status in ("INVALID_ARGUMENT", "NOT_FOUND"):
        assert error.field, describe(error)
        named = error.field.rsplit(".", 1)[-1].split("[", 1)[0]
        assert named in error.message, describe(error)
    else:
        assert "max_" in error.message, describe(error)  # the setting at its limit
    check_clear(error)


def check_image_error(status: status_pb2.Status, index: int) -> None:
    error = from_status(status)
    assert status.message, error
    assert error.code == "INVALID_ARGUMENT", f"image {index}: {error}"  # the fake never fails
    assert error.reason in {*IMAGE_REASONS, Reason.DETECTOR_INPUT_TOO_LARGE}, error
    for word in INTERNALS:
        assert word not in status.message, error


def check_points(points: Any, width: int, height: int) -> None:
    for p in points:
        assert math.isfinite(p.x) and math.isfinite(p.y), p
        assert -1 <= p.x <= width + 1 and -1 <= p.y <= height + 1, (p, width, height)


def call_handler(handler: Any, request: Any) -> Any | None:
    """The handler's response, or None when it failed the request as it should."""
    try:
        response = serve(handler, request)
    except OcrError as exc:
        check_request_error(exc)
        return None
    assert len(response.results) == len(request.images)
    for index, (image, result) in enumerate(zip(request.images, response.results, strict=True)):
        assert result.id == image.id
        if result.HasField("error"):
            check_image_error(result.error, index)
    return response


@fuzz("Ocr")
@given(images=image_lists(), values=PARAMS, slots=st.sampled_from(SLOT_SETS))
def test_ocr_requests(dictionary: Path, images: list[pb.Image],
                      values: dict[str, Any], slots: tuple[str, ...]) -> None:
    request = pb.OcrRequest(images=images, return_timings=values["return_timings"],
                            priority=values["priority"])
    _fill(request.detection, values["detection"])
    _fill(request.classification, values["classification"])
    _fill(request.recognition, values["recognition"])
    if values["use_angle_cls"] is not None:
        request.use_angle_cls = values["use_angle_cls"]
    response = call_handler(make_servicer(dictionary, slots).Ocr, request)
    for result in response.results if response else ():
        if not result.HasField("error"):
            assert result.width >= 1 and result.height >= 1
            for line in result.lines:
                check_points(line.box, result.width, result.height)
                assert 0 <= line.score <= 1 and line.angle in (0, 180)


@fuzz("Detect")
@given(images=image_lists(), values=PARAMS, slots=st.sampled_from(SLOT_SETS))
def test_detect_requests(dictionary: Path, images: list[pb.Image],
                         values: dict[str, Any], slots: tuple[str, ...]) -> None:
    request = pb.DetectRequest(images=images, return_timings=values["return_timings"],
                               priority=values["priority"])
    _fill(request.detection, values["detection"])
    response = call_handler(make_servicer(dictionary, slots).Detect, request)
    for result in response.results if response else ():
        if not result.HasField("error"):
            assert result.width >= 1 and result.height >= 1
            for box in result.boxes:
                assert len(box.points) >= 4 and 0 <= box.score <= 1
                check_points(box.points, result.width, result.height)


@fuzz("Classify")
@given(images=image_lists(), values=PARAMS, slots=st.sampled_from(SLOT_SETS))
def test_classify_requests(dictionary: Path, images: list[pb.Image],
                           values: dict[str, Any], slots: tuple[str, ...]) -> None:
    request = pb.ClassifyRequest(images=images, priority=values["priority"])
    _fill(request.classification, values["classification"])
    response = call_handler(make_servicer(dictionary, slots).Classify, request)
    for result in response.results if response else ():
        if not result.HasField("error"):
            assert result.angle in (0, 180) and 0 <= result.score <= 1


@fuzz("Recognize")
@given(images=image_lists(), values=PARAMS, slots=st.sampled_from(SLOT_SETS))
def test_recognize_requests(dictionary: Path, images: list[pb.Image],
                            values: dict[str, Any], slots: tuple[str, ...]) -> None:
    request = pb.RecognizeRequest(images=images, slot=values["recognition"]["slot"],
                                  priority=values["priority"])
    response = call_handler(make_servicer(dictionary, slots).Recognize, request)
    for result in response.results if response else ():
        if not result.HasField("error"):
            assert set(result.text) <= set("abc ") and 0 <= result.score <= 1


@st.composite
def server_settings(draw: st.DrawFn) -> Settings:
    """Valid server configurations: what GetServerInfo reports for them must hold."""
    side = draw(st.integers(32, 512))
    crops = draw(st.integers(1, 100))
    unit = st.floats(0, 1)
    return dataclasses.replace(
        SERVER, det_max_side_len=side, det_max_pixels=side * side, max_crops_per_image=crops,
        det_limit_side_len=draw(st.integers(1, side)),
        det_limit_type=draw(st.sampled_from(["max", "min", "resize_long"])),
        det_db_thresh=draw(unit), det_db_box_thresh=draw(unit),
        det_db_unclip_ratio=draw(st.floats(1e-3, 10)),
        det_max_candidates=draw(st.integers(1, crops)),
        det_db_score_mode=draw(st.sampled_from(["fast", "slow"])),
        use_dilation=draw(st.booleans()), det_box_type=draw(st.sampled_from(["quad", "poly"])),
        use_angle_cls=draw(st.booleans()), cls_thresh=draw(unit), drop_score=draw(unit),
        max_images_per_request=draw(st.integers(1, 64)))


@fuzz("GetServerInfo")
@given(server=server_settings(), slots=st.sampled_from(SLOT_SETS),
       image=st.builds(lambda seed: pb.Image(encoded=_cv2(".png", pixels(Dice(seed), 16))),
                       SEEDS))
def test_server_info_and_its_defaults_are_accepted_back(
        dictionary: Path, server: Settings, slots: tuple[str, ...],
        image: pb.Image) -> None:
    server.validate()
    servicer = make_servicer(dictionary, slots, server)
    info = serve(servicer.GetServerInfo, pb.GetServerInfoRequest())
    assert info.limits.max_images_per_request == server.max_images_per_request
    assert info.limits.det_max_side_len == server.det_max_side_len
    assert {s.model.slot for s in info.slots} == set(slots)
    detection = info.defaults.detection
    for name in ("limit_side_len", "thresh", "box_thresh", "unclip_ratio", "max_candidates",
                 "use_dilation"):
        assert detection.HasField(name), name
    # What the server says its defaults are, sent back, is a valid request.
    if "det" in slots and "rec" in slots:
        request = pb.OcrRequest(images=[image], detection=info.defaults.detection,
                                classification=info.defaults.classification,
                                recognition=info.defaults.recognition,
                                use_angle_cls=info.defaults.use_angle_cls)
        response = serve(servicer.Ocr, request)  # no request-level error: accepted
        error = response.results[0].error
        # the image may still be refused on its own: a "min" limit type upscales
        assert not response.results[0].HasField("error") or \
            from_status(error).reason == Reason.DETECTOR_INPUT_TOO_LARGE, error


# -------------------------------------------------- 3. status conversion

ERROR_TYPES = (OcrError, InvalidInput, NotFound, ResourceExhausted, Unavailable,
               DeadlineExceeded, FailedPrecondition, ModelError)
TEXT = st.text(st.characters(codec="utf-8"), max_size=64)  # no lone surrogates


@fuzz("status")
@given(cls=st.sampled_from(ERROR_TYPES), message=st.one_of(TEXT, st.just("x" * 1024)),
       reason=optional(st.sampled_from(list(Reason))), field=optional(TEXT),
       metadata=st.dictionaries(TEXT, st.one_of(TEXT, st.integers(), st.floats()), max_size=4),
       retry=optional(st.floats(0, 3600)))
def test_any_error_becomes_a_status_the_client_reads_back(
        cls: type[OcrError], message: str, reason: Reason | None, field: str | None,
        metadata: dict[str, object], retry: float | None) -> None:
    error = cls(message, reason=reason, field=field, metadata=metadata, retry_after_s=retry)
    check_status_round_trip(error)


# ------------------------------------------------------------ regressions
# What the fuzzers (and the review of what they found) turned up, as fixed examples.

def _recording_imdecode(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    seen: list[bytes] = []
    imdecode = cv2.imdecode

    def spy(buf: np.ndarray, flags: int) -> Any:
        seen.append(buf.tobytes())
        return imdecode(buf, flags)

    monkeypatch.setattr(cv2, "imdecode", spy)
    return seen


def test_a_float_tiff_holding_nan_decodes_without_an_undefined_cast() -> None:
    # Was: RuntimeWarning "invalid value encountered in cast" (garbage pixels in production).
    samples = np.array([[math.nan, math.inf, -math.inf, 3.4e38, -1.0, 0.5]], np.float32)
    out = decode_image(_cv2(".tiff", samples))
    assert out[0, :, 0].tolist() == [0, 255, 0, 255, 0, 128]


def test_a_png_declaring_a_4_gb_chunk_is_refused_before_opencv_sees_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Was: OpenCV 4.11 allocated and zero-filled 4 GB for this 49-byte file (seconds, and
    # 64 of them in one request exhaust any server's memory).
    seen = _recording_imdecode(monkeypatch)
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    data = (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr
            + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
            + struct.pack(">I", 0xFFFFFFF0) + b"tEXt" + b"\0" * 8)
    with pytest.raises(InvalidInput) as refused:
        decode_image(data, MAX_PIXELS)
    assert refused.value.reason == Reason.IMAGE_UNDECODABLE and not seen


def _apng(frames: list[np.ndarray], **options: Any) -> bytes:
    images = [PILImage.fromarray(np.ascontiguousarray(f[:, :, ::-1])) for f in frames]
    return _save(images[0], "PNG", save_all=True, append_images=images[1:], **options)


def test_an_animated_png_decodes_its_default_image_without_opencvs_animation_code(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Was: OpenCV 4.11's APNG code composites frames out of bounds: a valid RGB APNG
    # with blend_op OVER decoded differently each time (uninitialised reads), and one
    # whose first fcTL had x_offset 0xFFFFFFF8 crashed the process (SIGSEGV).
    seen = _recording_imdecode(monkeypatch)
    first = pixels(Dice(5), 24)
    data = _apng([first, first[::-1].copy()], blend=1)
    assert b"acTL" in data
    np.testing.assert_array_equal(decode_image(data), first)
    np.testing.assert_array_equal(decode_image(data), first)
    fctl = data.index(b"fcTL") - 4
    crashing = bytearray(data)
    struct.pack_into(">I", crashing, fctl + 8 + 12, 0xFFFFFFF8)  # the frame's x_offset
    struct.pack_into(">I", crashing, fctl + 8 + 26, zlib.crc32(crashing[fctl + 4:fctl + 34]))
    np.testing.assert_array_equal(decode_image(bytes(crashing)), first)
    assert all(b"acTL" not in s[:s.index(b"IDAT")] for s in seen)


def test_a_jpeg_of_thousands_of_empty_scans_is_refused_before_decoding(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # libjpeg passes over every pixel once per scan; a scan costs 10 bytes (a 1 MB file
    # of them is minutes of CPU on a large image).
    seen = _recording_imdecode(monkeypatch)
    data = _save(PILImage.new("L", (64, 64)), "JPEG", progressive=True)
    last = data.rindex(b"\xff\xda")
    empty_scan = data[last:last + 2 + struct.unpack_from(">H", data, last + 2)[0]]
    many = data[:-2] + empty_scan * JPEG_MAX_SCANS + data[-2:]
    with pytest.raises(InvalidInput) as refused:
        decode_image(many, MAX_PIXELS)
    assert refused.value.reason == Reason.IMAGE_UNDECODABLE and "scans" in refused.value.message
    assert not seen


def test_a_tiff_repeating_its_width_is_limited_by_the_width_libtiff_reads() -> None:
    # Was: the header reader took the last ImageWidth and libtiff the first, so a 300-byte
    # file declaring 1x30000 pixels had libtiff allocate 30000x30000.
    img = np.zeros((2, 3), np.uint8)
    data = bytearray(tiff_bytes(img, "<", 4))
    (count,) = struct.unpack_from("<H", data, 8)
    entry = struct.pack("<HHI", 256, 4, 1) + struct.pack("<I", 30000)
    data[10:10] = entry  # a first ImageWidth of 30000
    struct.pack_into("<H", data, 8, count + 1)
    for offset_at in (10 + 12 * 6 + 8,):  # StripOffsets moved by one entry
        struct.pack_into("<I", data, offset_at, struct.unpack_from("<I", data, offset_at)[0] + 12)
    assert image_size(bytes(data)) == (30000, 2)
    with pytest.raises(InvalidInput) as refused:
        decode_image(bytes(data), 30000)
    assert refused.value.reason == Reason.IMAGE_TOO_LARGE


# ------------------------------------------- found by the fuzzers, fixed where they live

def test_an_unknown_channel_order_is_refused_naming_the_field() -> None:
    raw = pb.RawImage(pixels=b"\0" * 16, width=2, height=2, channel_order=99)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as refused:
        convert.decode(pb.Image(raw=raw), 0, MAX_PIXELS)
    assert refused.value.field == "images[0].raw.channel_order"


def test_a_default_that_could_not_be_sent_back_is_refused_at_start_up() -> None:
    # 1e-46 is positive, but as float32 (how GetServerInfo reports it) it is 0.0,
    # which a request may not send: the configuration is refused instead.
    server = dataclasses.replace(SERVER, det_db_unclip_ratio=1e-46)
    with pytest.raises(InvalidInput, match="det_db_unclip_ratio"):
        server.validate()
    reported = convert.detection_defaults(SERVER.detection_defaults(), "det")
    convert.det_params(reported, SERVER)


def test_a_detector_input_over_the_limit_names_the_field_at_fault(dictionary: Path) -> None:
    request = pb.DetectRequest(images=[pb.Image(encoded=_cv2(".png", np.zeros((2, 64, 3),
                                                                              np.uint8)))])
    request.detection.limit_side_len = 256
    request.detection.limit_type = pb.LIMIT_TYPE_MIN
    response = serve(make_servicer(dictionary, ("det",)).Detect, request)
    error = from_status(response.results[0].error)
    assert error.reason == Reason.DETECTOR_INPUT_TOO_LARGE
    assert error.field_violations
