"""The response cache: its bound, its key, and the servicer answering from it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import FakeInference, page

from ocrclient.proto.ocr.v1 import ocr_pb2 as pb
from ocrserve.engine.protocol import SlotInfo
from ocrserve.frontend.response_cache import ResponseCache, cache_key
from ocrserve.frontend.servicer import OcrServicer
from ocrserve.pipeline import Pipeline
from ocrserve.settings import Settings

VERSIONS = [("det", "ch_PP-OCRv2_det", 1), ("rec", "ch_PP-OCRv2_rec", 1)]


class Context:
    def time_remaining(self) -> float | None:
        return None


def png(img: np.ndarray) -> bytes:
    return cv2.imencode(".png", img)[1].tobytes()


IMAGE = pb.Image(encoded=png(page((40, 30, 200, 30))), id="a")


def key(image: pb.Image = IMAGE, request: pb.OcrRequest | None = None,
        versions: list[tuple[str, str, int]] = VERSIONS, method: str = "OcrRequest") -> bytes:
    return cache_key(method, image, request or pb.OcrRequest(), versions)


def test_the_oldest_entries_go_first_to_stay_within_the_bound() -> None:
    cache = ResponseCache(max_bytes=300)
    for n in range(5):
        cache.put(bytes([n]) * 32, b"x" * 68)  # 100 bytes each
    assert cache.get(bytes([0]) * 32) is None and cache.get(bytes([1]) * 32) is None
    assert cache.get(bytes([4]) * 32) == b"x" * 68
    stats = cache.stats()
    assert (stats.entries, stats.bytes, stats.evictions) == (3, 300, 2)
    assert (stats.hits, stats.misses) == (1, 2)


def test_a_hit_is_kept_longer_than_an_unused_entry() -> None:
    cache = ResponseCache(max_bytes=200)
    cache.put(b"a" * 32, b"1" * 68)
    cache.put(b"b" * 32, b"2" * 68)
    assert cache.get(b"a" * 32) is not None  # a is now the most recent
    cache.put(b"c" * 32, b"3" * 68)
    assert cache.get(b"b" * 32) is None and cache.get(b"a" * 32) is not None


def test_an_entry_larger_than_the_cache_is_not_stored() -> None:
    cache = ResponseCache(max_bytes=100)
    cache.put(b"k" * 32, b"v" * 100)
    assert cache.stats().entries == 0 and cache.stats().bytes == 0


def test_the_key_ignores_the_image_id_priority_and_timings_flag() -> None:
    renamed = pb.Image(encoded=IMAGE.encoded, id="other")
    flags = pb.OcrRequest(priority=pb.PRIORITY_HIGH, return_timings=True)
    assert key(renamed) == key() == key(request=flags)


@pytest.mark.parametrize("change", [
    {"image": pb.Image(encoded=IMAGE.encoded + b"\0")},
    {"image": pb.Image(raw=pb.RawImage(pixels=b"\0" * 12, width=2, height=2))},
    {"request": pb.OcrRequest(detection=pb.DetectionParams(box_thresh=0.5))},
    {"request": pb.OcrRequest(use_angle_cls=False)},
    {"request": pb.OcrRequest(recognition=pb.RecognitionParams(slot="rec:french"))},
    {"versions": [("det", "ch_PP-OCRv2_det", 2), ("rec", "ch_PP-OCRv2_rec", 1)]},
    {"method": "DetectRequest"},
], ids=["bytes", "raw", "parameter", "explicit-default", "slot", "version", "rpc"])
def test_the_key_changes_with_whatever_changes_a_result(change: dict[str, object]) -> None:
    assert key(**change) != key()  # type: ignore[arg-type]


def test_the_key_does_not_depend_on_the_order_of_slots() -> None:
    assert key(versions=list(reversed(VERSIONS))) == key()


# ------------------------------------------------------------ through the servicer

def servicer(inference: FakeInference, **settings: object) -> OcrServicer:
    return OcrServicer(Pipeline(inference), inference, Settings(**settings))  # type: ignore[arg-type]


def test_a_repeated_image_is_answered_from_the_cache(inference: FakeInference) -> None:
    ocr = servicer(inference, response_cache_mb=1)
    first = asyncio.run(ocr.Ocr(pb.OcrRequest(images=[IMAGE]), Context()))
    calls = len(inference.calls)
    again = pb.OcrRequest(images=[pb.Image(encoded=IMAGE.encoded, id="b")], return_timings=True)
    second = asyncio.run(ocr.Ocr(again, Context()))
    assert len(inference.calls) == calls  # the engine was not asked again
    assert second.results[0].id == "b"
    assert second.results[0].timings.cached
    assert [x.text for x in second.results[0].lines] == [x.text for x in first.results[0].lines]
    assert second.results[0].lines and second.results[0].models == first.results[0].models
    info = asyncio.run(ocr.GetServerInfo(pb.GetServerInfoRequest(), Context()))
    cache = info.response_cache
    assert cache.enabled and (cache.hits, cache.misses, cache.entries) == (1, 1, 1)
    assert 0 < cache.bytes <= cache.max_bytes == 1024 * 1024


def test_failed_images_and_other_models_are_not_answered_from_it(
        inference: FakeInference, dictionary: Path) -> None:
    ocr = servicer(inference, response_cache_mb=1)
    broken = pb.Image(encoded=b"not an image", id="x")
    for _ in range(2):
        response = asyncio.run(ocr.Detect(pb.DetectRequest(images=[broken]), Context()))
        assert response.results[0].HasField("error")
    assert ocr.cache.stats().entries == 0
    asyncio.run(ocr.Detect(pb.DetectRequest(images=[IMAGE]), Context()))
    inference._slots["det"] = SlotInfo("det", "det", "fake_det", 4, "fake", "cpu",
                                       (3, None, None))  # a new version of the model
    calls = len(inference.calls)
    response = asyncio.run(ocr.Detect(pb.DetectRequest(images=[IMAGE]), Context()))
    assert len(inference.calls) == calls + 1
    assert response.results[0].models[0].version == 4


def test_the_cache_is_off_by_default(inference: FakeInference) -> None:
    ocr = servicer(inference)
    for _ in range(2):
        asyncio.run(ocr.Recognize(pb.RecognizeRequest(images=[IMAGE]), Context()))
    assert len(inference.calls) == 2
    info = asyncio.run(ocr.GetServerInfo(pb.GetServerInfoRequest(), Context()))
    assert not info.response_cache.enabled and info.response_cache.misses == 0


def test_raw_images_differ_by_channel_order() -> None:
    pixels = bytes(range(12))
    bgr = pb.Image(raw=pb.RawImage(pixels=pixels, width=2, height=2,
                                   channel_order=pb.CHANNEL_ORDER_BGR))
    rgb = pb.Image(raw=pb.RawImage(pixels=pixels, width=2, height=2,
                                   channel_order=pb.CHANNEL_ORDER_RGB))
    assert key(bgr) != key(rgb)
