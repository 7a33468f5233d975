"""The frame format between front-ends and an engine process: pure encoding, no I/O.

A frame is::

    prefix   8 bytes   header length (u32, little-endian), body length (u32)
    header   JSON      an object; ``"tensors"`` lists each tensor's dtype, shape, nbytes
    body     raw       the tensors' bytes, C order, each starting at a multiple of ALIGN

JSON rather than pickle: a frame is data, never code, and either side can be
rewritten without Python.  The body is not serialized at all: the sender hands
the arrays' own memory to the socket and the receiver wraps the received
buffer with ``np.frombuffer``, so a tensor is copied only by the kernel and the
socket layer.  Padding each tensor to ALIGN keeps every decoded array aligned
when the body buffer is (``bytes`` objects are), which numpy and the runtimes
prefer.

:class:`FrameError` means the peer broke this format.  It never leaves the
transport: the stream is out of sync after it, so the connection is dropped.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

PREFIX = struct.Struct("<II")
#: Byte alignment of every tensor inside the body (the largest numeric alignment).
ALIGN = 8
#: Headers carry ids and a few fields; anything near this size is garbage.
MAX_HEADER_BYTES = 1 << 20
MAX_BODY_BYTES = (1 << 32) - 1
#: The header key that describes the body; reserved.
TENSORS_KEY = "tensors"
#: bool, signed and unsigned integers, floats, complex: plain bytes, no objects.
_NUMERIC_KINDS = frozenset("biufc")
_PADDING = bytes(ALIGN)

Buffer = bytes | bytearray | memoryview


class FrameError(ValueError):
    """A frame that does not follow the format (a peer bug, not a bad request)."""


def encode(header: dict[str, Any], tensors: Sequence[np.ndarray]) -> list[Buffer]:
    """The buffers of one frame, to be written in order.

    The first buffer holds the prefix and the JSON header; each tensor follows as a
    byte view of its own memory (copied only if it is not C-contiguous), then the
    padding up to ALIGN.  ``header`` must be JSON-able and must not use TENSORS_KEY.
    """
    if TENSORS_KEY in header:
        raise ValueError(f"header key {TENSORS_KEY!r} is reserved for the tensor list")
    arrays = [np.ascontiguousarray(t) for t in tensors]
    for array in arrays:
        _check_dtype(array.dtype)
    descriptions = [{"dtype": a.dtype.str, "shape": list(a.shape), "nbytes": a.nbytes}
                    for a in arrays]
    header_bytes = json.dumps({**header, TENSORS_KEY: descriptions},
                              separators=(",", ":")).encode()
    body_size = sum(_padded(a.nbytes) for a in arrays)
    if len(header_bytes) > MAX_HEADER_BYTES:
        raise ValueError(f"frame header of {len(header_bytes)} bytes exceeds {MAX_HEADER_BYTES}")
    if body_size > MAX_BODY_BYTES:
        raise ValueError(f"frame body of {body_size} bytes exceeds {MAX_BODY_BYTES}")
    buffers: list[Buffer] = [PREFIX.pack(len(header_bytes), body_size) + header_bytes]
    for array in arrays:
        # A flat byte view: a transport that slices after a partial send slices bytes.
        buffers.append(array.reshape(-1).view(np.uint8).data)
        pad = _padded(array.nbytes) - array.nbytes
        if pad:
            buffers.append(_PADDING[:pad])
    return buffers


def parse_prefix(prefix: Buffer) -> tuple[int, int]:
    """(header length, body length) from the first PREFIX.size bytes of a frame."""
    if len(prefix) != PREFIX.size:
        raise FrameError(f"frame prefix has {len(prefix)} bytes, expected {PREFIX.size}")
    header_size, body_size = PREFIX.unpack(prefix)
    if not 2 <= header_size <= MAX_HEADER_BYTES:  # the shortest JSON object is "{}"
        raise FrameError(f"frame header length {header_size} outside 2..{MAX_HEADER_BYTES}")
    return header_size, body_size


def decode(header_bytes: Buffer, body: Buffer) -> tuple[dict[str, Any], list[np.ndarray]]:
    """The header (without TENSORS_KEY) and the tensors, as views of ``body``.

    The arrays share ``body``'s memory: read-only when it is ``bytes``, and valid only
    as long as nobody reuses that buffer.
    """
    try:
        header = json.loads(bytes(header_bytes))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FrameError(f"frame header is not JSON: {exc}") from exc
    if not isinstance(header, dict) or not isinstance(header.get(TENSORS_KEY), list):
        raise FrameError(f"frame header is not an object with a {TENSORS_KEY!r} list")
    descriptions = header.pop(TENSORS_KEY)
    arrays = []
    offset = 0
    for index, description in enumerate(descriptions):
        dtype, shape, nbytes = _parse_description(index, description)
        if offset + nbytes > len(body):
            raise FrameError(f"tensor {index} ends at byte {offset + nbytes}, "
                             f"past the {len(body)}-byte body")
        count = math.prod(shape)
        arrays.append(np.frombuffer(body, dtype, count, offset).reshape(shape))
        offset += _padded(nbytes)
    if offset != len(body):
        raise FrameError(f"frame body has {len(body)} bytes, its tensors {offset}")
    return header, arrays


def _parse_description(index: int, description: Any) -> tuple[np.dtype[Any], list[int], int]:
    if not isinstance(description, dict):
        raise FrameError(f"tensor {index}: description is not an object")
    dtype_name, shape, nbytes = (description.get(k) for k in ("dtype", "shape", "nbytes"))
    try:
        if not isinstance(dtype_name, str):  # np.dtype(None) would be float64
            raise TypeError(f"{dtype_name!r} is not a dtype name")
        dtype = np.dtype(dtype_name)
        _check_dtype(dtype)
    except (TypeError, ValueError) as exc:
        raise FrameError(f"tensor {index}: bad dtype: {exc}") from exc
    if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
        raise FrameError(f"tensor {index}: shape {shape!r} is not a list of sizes")
    if type(nbytes) is not int or nbytes != math.prod(shape) * dtype.itemsize:
        raise FrameError(f"tensor {index}: nbytes {nbytes!r} does not match "
                         f"shape {shape} of {dtype}")
    return dtype, shape, nbytes


def _check_dtype(dtype: np.dtype[Any]) -> None:
    if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None:
        raise ValueError(f"dtype {dtype} cannot cross the wire (numeric dtypes only)")


def _padded(nbytes: int) -> int:
    return -(-nbytes // ALIGN) * ALIGN
