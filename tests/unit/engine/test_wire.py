"""The engine frame format: round trips, zero-copy views, and malformed frames refused."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from ocrserve.engine import wire


def split(buffers: Sequence[wire.Buffer]) -> tuple[bytes, bytearray]:
    """What a reader gets from the encoded buffers: the header bytes and the body."""
    frame = b"".join(buffers)
    header_size, body_size = wire.parse_prefix(frame[:wire.PREFIX.size])
    header_end = wire.PREFIX.size + header_size
    assert len(frame) == header_end + body_size
    return frame[wire.PREFIX.size:header_end], bytearray(frame[header_end:])


def frame_with(descriptions: Any, body: bytes = b"") -> tuple[bytes, bytes]:
    return json.dumps({"id": 1, "tensors": descriptions}).encode(), body


def round_trip(header: dict[str, Any],
               tensors: Sequence[np.ndarray]) -> tuple[dict[str, Any], list[np.ndarray]]:
    return wire.decode(*split(wire.encode(header, tensors)))


def test_tensors_of_several_dtypes_and_ranks_round_trip_with_the_header() -> None:
    rng = np.random.default_rng(0)
    tensors: list[np.ndarray] = [
        rng.random(7, dtype=np.float32),
        rng.integers(-5, 5, (3, 5), dtype=np.int32),
        rng.integers(0, 255, (3, 4, 5), dtype=np.uint8),
        rng.random((2, 3, 32, 17)).astype(np.float32),
        np.zeros((0, 3), np.float32),
        np.array([True, False, True]),
        rng.random(3).astype(np.float16),
    ]
    header, decoded = round_trip({"op": "infer", "id": 7, "timeout_s": None}, tensors)
    assert header == {"op": "infer", "id": 7, "timeout_s": None}
    assert len(decoded) == len(tensors)
    for sent, got in zip(tensors, decoded, strict=True):
        assert got.dtype == sent.dtype
        assert got.shape == sent.shape
        np.testing.assert_array_equal(got, sent)


def test_a_frame_without_tensors_has_an_empty_body() -> None:
    buffers = wire.encode({"op": "describe"}, [])
    assert len(buffers) == 1
    header, tensors = wire.decode(*split(buffers))
    assert header == {"op": "describe"}
    assert tensors == []


def test_decoded_arrays_are_views_of_the_body_at_aligned_offsets() -> None:
    tensors: list[np.ndarray] = [np.arange(3, dtype=np.uint8), np.arange(4, dtype=np.float32)]
    header_bytes, body = split(wire.encode({}, tensors))
    _, (small, floats) = wire.decode(header_bytes, body)
    assert len(body) == 8 + 16  # 3 bytes padded to ALIGN, then 16 bytes of float32
    body[8:12] = np.float32(42.0).tobytes()  # no copy: writing the body changes the array
    body[0] = 9
    assert floats[0] == 42.0
    assert small[0] == 9


def test_received_bytes_give_read_only_arrays() -> None:
    header_bytes, body = split(wire.encode({}, [np.ones((2, 2), np.float32)]))
    _, (array,) = wire.decode(header_bytes, bytes(body))
    assert not array.flags.writeable


def test_the_send_side_hands_over_the_arrays_own_memory() -> None:
    tensor = np.arange(12, dtype=np.float32).reshape(3, 4)
    _, view = wire.encode({}, [tensor])
    assert isinstance(view, memoryview)
    assert view.nbytes == tensor.nbytes and view.format == "B"
    tensor[0, 0] = 5.0
    assert np.frombuffer(view, np.float32)[0] == 5.0


def test_non_contiguous_tensors_are_sent_in_c_order() -> None:
    tensor = np.arange(24, dtype=np.int32).reshape(4, 6)[:, ::2].T
    _, (decoded,) = round_trip({}, [tensor])
    np.testing.assert_array_equal(decoded, tensor)


def test_encode_refuses_object_arrays_and_the_reserved_key() -> None:
    with pytest.raises(ValueError, match="numeric dtypes only"):
        wire.encode({}, [np.array(["text"], dtype=object)])
    with pytest.raises(ValueError, match="reserved"):
        wire.encode({"tensors": []}, [])


@pytest.mark.parametrize("prefix, match", [
    (b"\x00" * 7, "expected 8"),
    (wire.PREFIX.pack(0, 0), "header length 0"),
    (wire.PREFIX.pack(wire.MAX_HEADER_BYTES + 1, 0), "header length"),
])
def test_bad_prefixes_are_frame_errors(prefix: bytes, match: str) -> None:
    with pytest.raises(wire.FrameError, match=match):
        wire.parse_prefix(prefix)


FLOAT4 = {"dtype": "<f4", "shape": [4], "nbytes": 16}


@pytest.mark.parametrize("header_bytes, body, match", [
    (b"\xff{", b"", "not JSON"),
    (b"[1, 2]", b"", "not an object"),
    (b'{"id": 1}', b"", "'tensors' list"),
    (*frame_with(["x"]), "not an object"),
    (*frame_with([{**FLOAT4, "dtype": "O"}], bytes(16)), "numeric dtypes only"),
    (*frame_with([{**FLOAT4, "dtype": None}], bytes(16)), "not a dtype name"),
    (*frame_with([{**FLOAT4, "dtype": "nonsense"}], bytes(16)), "bad dtype"),
    (*frame_with([{**FLOAT4, "shape": [-4]}], bytes(16)), "not a list of sizes"),
    (*frame_with([{**FLOAT4, "shape": "4"}], bytes(16)), "not a list of sizes"),
    (*frame_with([{**FLOAT4, "nbytes": 12}], bytes(16)), "does not match"),
    (*frame_with([FLOAT4], bytes(8)), "past the 8-byte body"),
    (*frame_with([FLOAT4], bytes(24)), "has 24 bytes, its tensors 16"),
])
def test_malformed_frames_are_refused_with_a_reason(header_bytes: bytes, body: bytes,
                                                    match: str) -> None:
    with pytest.raises(wire.FrameError, match=match):
        wire.decode(header_bytes, body)
