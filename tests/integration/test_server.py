"""The real ocr-server (single process) on a free loopback port, through the real client."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import grpc
import numpy as np
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from PIL import Image, ImageDraw, ImageFont

from ocrclient import (
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    OcrClient,
    ResourceExhausted,
)
from ocrclient.proto.ocr.v1 import ocr_pb2, ocr_pb2_grpc
from ocrserve.bench.spawn import ServerProcess

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


@pytest.fixture(scope="module")
def server(model_repository: Path) -> Iterator[ServerProcess]:
    # Single-process mode (engine in-process); test_supervisor.py covers the default.
    with ServerProcess(["--workers", "0", "--max-message-mb", "4",
                        "--max-image-pixels", "20000000"],
                       env={"OCR_MODEL_REPOSITORY": str(model_repository)}) as proc:
        yield proc


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[OcrClient]:
    with OcrClient(server.target, timeout=60) as c:
        yield c


def text_line(text: str, *, size: int = 40) -> np.ndarray:
    """A rendered text line as a BGR array (a real font, no model involved)."""
    font = ImageFont.truetype(FONT, size)
    left, top, right, bottom = font.getbbox(text)
    img = Image.new("RGB", (right - left + 24, bottom - top + 20), "white")
    ImageDraw.Draw(img).text((12 - left, 10 - top), text, fill="black", font=font)
    return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)


def png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def manifest_lines(image: Path) -> list[str]:
    manifest = json.loads((image.parent / "manifest.json").read_text())
    (entry,) = [e for e in manifest["images"] if e["file"] == image.name]
    return list(entry["lines"])


# ------------------------------------------------------------------ happy paths

def test_health_and_reflection(server: ServerProcess) -> None:
    assert server.health() == "SERVING"
    with grpc.insecure_channel(server.target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        (response,) = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
    names = {s.name for s in response.list_services_response.service}
    assert {"ocr.v1.OcrService", "ocr.v1.ModelService", "grpc.health.v1.Health"} <= names


def test_ocr_reads_the_generated_sign(client: OcrClient, small_image_set: list[Path]) -> None:
    sign = next(p for p in small_image_set if p.name.startswith("signs"))
    result = client.ocr_one(sign, return_timings=True)
    found = " ".join(line.text for line in result.lines).split()
    expected = " ".join(manifest_lines(sign)).split()  # words: "3.6 km" may be two boxes
    assert sum(w in found for w in expected) >= len(expected) * 0.8, (found, expected)
    assert (result.width, result.height) == (800, 600)
    assert all(len(line.box) == 4 and 0.5 <= line.score <= 1.0 for line in result.lines)
    assert result.timings is not None and result.timings.total_ms > 0
    assert {m.stage for m in result.models} == {"det", "cls", "rec"}


def test_several_images_in_one_request_keep_their_order(client: OcrClient,
                                                        small_image_set: list[Path]) -> None:
    one_by_one = [client.ocr_one(p) for p in small_image_set[:3]]
    together = client.ocr(small_image_set[:3])
    assert [[x.text for x in r.lines] for r in together] == \
        [[x.text for x in r.lines] for r in one_by_one]


def test_raw_pixels_equal_encoded_image(client: OcrClient, small_image_set: list[Path]) -> None:
    path = small_image_set[0]
    bgr = cv2.imread(str(path))
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    encoded = client.ocr_one(path.read_bytes())
    raw = client.ocr_one(rgb, channel_order="rgb", priority="high")
    assert [x.text for x in raw.lines] == [x.text for x in encoded.lines]
    assert [x.box for x in raw.lines] == [x.box for x in encoded.lines]


def test_detect_returns_boxes_inside_the_image(client: OcrClient,
                                               small_image_set: list[Path]) -> None:
    (result,) = client.detect([small_image_set[1]])
    assert len(result.boxes) >= 3
    for box in result.boxes:
        xs, ys = zip(*box.box, strict=True)
        assert min(xs) >= 0 and min(ys) >= 0
        assert max(xs) < result.width and max(ys) < result.height
        assert 0.6 <= box.score <= 1.0  # box_thresh default


def test_recognize_and_classify_rendered_lines(client: OcrClient) -> None:
    line = text_line("Invoice 2024-07 total 318.50")
    upside_down = cv2.rotate(line, cv2.ROTATE_180)
    (rec,) = client.recognize([line])
    assert rec.text == "Invoice 2024-07 total 318.50" and rec.score > 0.9
    upright, flipped = client.classify([line, upside_down])
    assert upright.angle == 0 and flipped.angle == 180 and flipped.score > 0.9


def test_upside_down_line_is_rotated_before_recognition(client: OcrClient) -> None:
    page = np.full((200, 900, 3), 255, np.uint8)
    line = cv2.rotate(text_line("Sample Report 42"), cv2.ROTATE_180)
    page[60:60 + line.shape[0], 100:100 + line.shape[1]] = line
    with_cls = client.ocr_one(page)
    assert [x.text for x in with_cls.lines] == ["Sample Report 42"]
    assert with_cls.lines[0].angle == 180


def test_list_slots_and_catalog(client: OcrClient) -> None:
    slots = {s.slot: s for s in client.list_slots()}
    assert set(slots) == {"det", "cls", "rec"}
    assert slots["rec"].model == "ch_PP-OCRv2_rec"
    catalog = {m.name: m for m in client.list_catalog()}
    assert len(catalog) >= 24
    assert catalog["ch_PP-OCRv2_rec"].installed and not catalog["french_mobile_v2.0_rec"].installed


# ------------------------------------------------------------------ error paths

def test_an_undecodable_image_fails_alone(client: OcrClient) -> None:
    good, bad = client.ocr([text_line("Quarterly report 2024"), b"definitely not an image"])
    assert [x.text for x in good.lines] == ["Quarterly report 2024"] and good.error is None
    assert isinstance(bad.error, InvalidArgument)
    assert (bad.error.reason, bad.error.image_index) == ("IMAGE_UNDECODABLE", 1)
    assert [v.field for v in bad.error.field_violations] == ["images[1].encoded"]
    assert "could not be decoded" in bad.error.details and bad.error.request_id
    with pytest.raises(InvalidArgument, match="could not be decoded"):
        client.ocr([text_line("ok"), b"definitely not an image"], strict=True)


def test_unknown_language_is_not_found(client: OcrClient) -> None:
    with pytest.raises(NotFound, match="rec:french") as info:
        client.ocr([text_line("bonjour")], language="french")
    assert info.value.reason == "SLOT_NOT_FOUND"
    assert [v.field for v in info.value.field_violations] == ["recognition.slot"]


def test_out_of_range_parameter_names_its_field_and_echoes_the_request_id(
        client: OcrClient, server: ServerProcess) -> None:
    with pytest.raises(InvalidArgument, match="box_thresh") as info:
        client.detect([text_line("x")], box_thresh=2.0, request_id="caller-id-17")
    error = info.value
    assert error.reason == "PARAMETER_OUT_OF_RANGE" and error.retry_delay is None
    assert error.metadata == {"field": "detection.box_thresh", "value": "2", "limit": "[0, 1]"}
    assert [v.field for v in error.field_violations] == ["detection.box_thresh"]
    assert error.request_id == "caller-id-17"
    assert "[caller-id-17]" in server.log()  # the server logged it under that id


def test_every_answer_carries_a_request_id(server: ServerProcess) -> None:
    with grpc.insecure_channel(server.target) as channel:
        stub = ocr_pb2_grpc.OcrServiceStub(channel)
        _, call = stub.GetServerInfo.with_call(ocr_pb2.GetServerInfoRequest(), timeout=10,
                                               metadata=[("x-request-id", "abc")])
        assert dict(call.trailing_metadata())["x-request-id"] == "abc"
        _, call = stub.GetServerInfo.with_call(ocr_pb2.GetServerInfoRequest(), timeout=10)
        assert len(dict(call.trailing_metadata())["x-request-id"]) == 32  # made by the server


def test_server_info_describes_this_server(client: OcrClient) -> None:
    info = client.get_server_info()
    assert info.api_version == "ocr.v1"
    assert info.limits.max_message_bytes == 4 * 1024 * 1024  # --max-message-mb 4
    assert info.limits.max_image_pixels == 20_000_000
    assert info.defaults["box_thresh"] == 0.6 and info.defaults["use_angle_cls"] is True
    assert {(s.model.slot, s.ready) for s in info.slots} == {("det", True), ("cls", True),
                                                             ("rec", True)}


def test_message_over_the_limit_is_resource_exhausted(client: OcrClient) -> None:
    noise = np.random.default_rng(0).integers(0, 255, (1200, 1200, 3), np.uint8)
    with pytest.raises(ResourceExhausted):
        client.ocr([png(noise)])  # ~4.3 MB > --max-message-mb 4


def test_an_image_over_the_pixel_limit_is_a_permanent_per_image_error(
        client: OcrClient) -> None:
    blank = png(np.full((4000, 6000, 3), 255, np.uint8))  # compresses to a few KB
    (result,) = client.detect([blank])
    assert isinstance(result.error, InvalidArgument)  # not RESOURCE_EXHAUSTED: no retry helps
    assert result.error.reason == "IMAGE_TOO_LARGE" and result.error.retry_delay is None
    assert result.error.metadata["limit"] == "20000000"
    assert result.error.metadata["value"] == "24000000"


def test_empty_request_is_invalid_argument(server: ServerProcess) -> None:
    with grpc.insecure_channel(server.target) as channel:
        stub = ocr_pb2_grpc.OcrServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.Ocr(ocr_pb2.OcrRequest(), timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_deadline_is_reported_as_deadline_exceeded(client: OcrClient,
                                                   image_set: list[Path]) -> None:
    a4 = next(p for p in image_set if "a4" in p.name)
    with pytest.raises(DeadlineExceeded):
        client.ocr([a4], timeout=0.05)
    assert client.health() == "SERVING"  # and the server is still fine


def test_the_api_holds_only_what_is_served() -> None:
    services = {s.name: [m.name for m in s.methods]
                for s in (ocr_pb2.DESCRIPTOR.services_by_name.values())}
    assert services == {"OcrService": ["Detect", "Classify", "Recognize", "Ocr",
                                       "GetServerInfo", "StreamOcr"]}


# ------------------------------------------------------------------ shutdown

def test_sigterm_finishes_in_flight_requests_then_exits_zero(model_repository: Path,
                                                             image_set: list[Path]) -> None:
    a4 = next(p for p in image_set if "a4" in p.name)
    results: list[object] = []
    # A grace period no machine's speed can exhaust: the test is about losing nothing.
    with ServerProcess(["--workers", "0", "--grace-period-s", "120"],
                       env={"OCR_MODEL_REPOSITORY": str(model_repository)}) as proc:
        def call() -> None:
            with OcrClient(proc.target, timeout=120, retries=0) as c:
                results.append(c.ocr_one(a4))

        threads = [threading.Thread(target=call) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.5)  # the requests are in flight
        code = proc.stop(timeout=180)
        for t in threads:
            t.join(120)
    assert code == 0, proc.log()
    assert len(results) == 3 and all(len(r.lines) > 10 for r in results)  # type: ignore[attr-defined]


def test_further_recognizer_slots_and_no_classifier(model_repository: Path) -> None:
    slots = ["--slot", "det=ch_PP-OCRv2_det", "--slot", "rec=ch_PP-OCRv2_rec",
             "--slot", "rec:second=ch_PP-OCRv2_rec@1"]
    line = text_line("Quarterly report 2024")
    with ServerProcess(["--workers", "0", *slots],
                       env={"OCR_MODEL_REPOSITORY": str(model_repository)}) as proc, \
            OcrClient(proc.target) as client:
        default = client.ocr_one(line)
        second = client.ocr_one(line, language="second")
        assert [x.text for x in second.lines] == [x.text for x in default.lines] == \
            ["Quarterly report 2024"]
        assert {(m.stage, m.slot) for m in second.models} == {("det", "det"),
                                                               ("rec", "rec:second")}
        assert second.lines[0].angle == 0 and second.lines[0].angle_score == 0.0
        with pytest.raises(NotFound, match="cls"):
            client.ocr([line], use_angle_cls=True)  # asked for, but there is no classifier


@pytest.mark.parametrize("workers", ["0", "1"])
def test_sigterm_drains_a_server_running_paddle(model_repository: Path, workers: str) -> None:
    """Paddle replaces SIGTERM's handler with one that aborts; the server must still drain."""
    slots = ["--slot", "det=ch_PP-OCRv4_det@paddle",
             "--slot", "cls=ch_ppocr_mobile_v2.0_cls@paddle", "--backend", "paddle"]
    with ServerProcess(["--workers", workers, *slots],
                       env={"OCR_MODEL_REPOSITORY": str(model_repository)}) as proc, \
            OcrClient(proc.target) as client:
        assert client.detect([text_line("paddle backend")])[0].boxes
        code = proc.stop()
    assert code == 0, proc.log()
    assert "FatalError" not in proc.log() and "stopped" in proc.log()


def test_a_repeated_image_comes_from_the_response_cache(model_repository: Path) -> None:
    line = png(text_line("cached answers"))
    with ServerProcess(["--workers", "0", "--slot", "det=ch_PP-OCRv2_det",
                        "--response-cache-mb", "4"],
                       env={"OCR_MODEL_REPOSITORY": str(model_repository)}) as proc, \
            OcrClient(proc.target) as client:
        first = client.detect([line], return_timings=True)[0]
        again = client.detect([line], return_timings=True)[0]
        other = client.detect([line], box_thresh=0.5, return_timings=True)[0]
        info = client.get_server_info()
    assert first.timings is not None and not first.timings.cached
    assert again.timings is not None and again.timings.cached
    assert other.timings is not None and not other.timings.cached  # other parameters
    assert again.boxes == first.boxes and again.boxes
    cache = info.response_cache
    assert cache.enabled and (cache.hits, cache.misses, cache.entries) == (1, 2, 2)
