"""The servicers over a fake Inference: per-image errors, request-level errors, parameters
honoured, GetServerInfo.  Handlers are called directly; tests/integration runs them over
real gRPC."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import FakeInference, page
from google.rpc import error_details_pb2, status_pb2

from ocrclient.proto.ocr.v1 import ocr_pb2 as pb
from ocrserve.context import request_id
from ocrserve.errors import (
    DeadlineExceeded,
    InvalidInput,
    ModelError,
    NotFound,
    Reason,
    ResourceExhausted,
)
from ocrserve.frontend.servicer import OcrServicer
from ocrserve.pipeline import Pipeline
from ocrserve.settings import Settings


class Context:
    """The two things the handlers ask of a grpc.aio ServicerContext."""

    def __init__(self, time_remaining: float | None = None) -> None:
        self._time_remaining = time_remaining

    def time_remaining(self) -> float | None:
        return self._time_remaining


def servicer(inference: FakeInference, **settings: object) -> OcrServicer:
    return OcrServicer(Pipeline(inference), inference, Settings(**settings))  # type: ignore[arg-type]


def png(img: np.ndarray) -> bytes:
    return cv2.imencode(".png", img)[1].tobytes()


LINE = page((40, 30, 200, 30))
GOOD = pb.Image(encoded=png(LINE), id="good")


def call(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(coroutine)


def reason_of(status: status_pb2.Status) -> str:
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    raise AssertionError("no ErrorInfo")


def field_of(status: status_pb2.Status) -> str:
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            return bad.field_violations[0].field
    raise AssertionError("no BadRequest")


@pytest.fixture(autouse=True)
def a_request_id() -> Iterator[None]:
    token = request_id.set("test-request")
    yield
    request_id.reset(token)


# ----------------------------------------------------------- one bad image

def test_one_bad_image_gets_its_own_error_and_the_others_succeed(
        inference: FakeInference) -> None:
    raw_short = pb.Image(raw=pb.RawImage(pixels=b"\0" * 10, width=4, height=4), id="short")
    request = pb.OcrRequest(images=[GOOD, pb.Image(encoded=b"not an image", id="junk"),
                                    raw_short, pb.Image(id="nothing"), GOOD])
    response = call(servicer(inference).Ocr(request, Context()))
    good, junk, short, nothing, again = response.results
    assert [r.text for r in good.lines] == ["ab"] and not good.HasField("error")
    assert [r.text for r in again.lines] == ["ab"]
    assert (junk.id, junk.error.code, reason_of(junk.error)) == ("junk", 3, "IMAGE_UNDECODABLE")
    assert field_of(junk.error) == "images[1].encoded" and not junk.lines
    assert (reason_of(short.error), field_of(short.error)) == ("IMAGE_SIZE_MISMATCH",
                                                              "images[2].raw.pixels")
    assert (reason_of(nothing.error), field_of(nothing.error)) == ("IMAGE_EMPTY", "images[3]")
    assert [m.stage for m in good.models] == ["det", "cls", "rec"] and not junk.models


def test_an_image_over_the_pixel_limit_is_refused_alone(inference: FakeInference) -> None:
    big = pb.Image(encoded=png(np.full((300, 400, 3), 255, np.uint8)))
    response = call(servicer(inference, max_image_pixels=100_000).Detect(
        pb.DetectRequest(images=[big, GOOD]), Context()))
    refused, good = response.results
    assert reason_of(refused.error) == "IMAGE_TOO_LARGE" and refused.error.code == 3
    assert "max_image_pixels" in refused.error.message and len(good.boxes) == 1


def test_a_model_failure_on_one_image_fails_that_image(inference: FakeInference) -> None:
    def fail_on_wide(items: list[np.ndarray]) -> ModelError | None:
        # det items are the resized page, H x W x 3
        return ModelError("onnxruntime: shape error ...") if items[0].shape[1] > 400 else None

    inference.failures["det"] = fail_on_wide
    wide = pb.Image(encoded=png(page((10, 10, 500, 30), size=(100, 900))))
    response = call(servicer(inference).Ocr(pb.OcrRequest(images=[wide, GOOD]), Context()))
    failed, good = response.results
    assert (failed.error.code, reason_of(failed.error)) == (13, "INFERENCE_FAILED")
    assert "onnxruntime" not in failed.error.message  # internals stay in the log
    assert [line.text for line in good.lines] == ["ab"]


# ------------------------------------------------------- request-level errors

@pytest.mark.parametrize("error", [ResourceExhausted("queue full"),
                                   DeadlineExceeded("too late")])
def test_transient_errors_fail_the_whole_call_and_cancel_the_rest(
        inference: FakeInference, error: Exception) -> None:
    inference.delay_s = 5.0  # the other images are still in the engine when one fails
    inference.failures_wait_for_calls = 3

    def fail_small(items: list[np.ndarray]) -> Exception | None:
        return error if items[0].shape[1] < 400 else None

    inference.failures["det"] = fail_small
    wide = pb.Image(encoded=png(page((10, 10, 500, 30), size=(100, 900))))
    with pytest.raises(type(error)):
        call(servicer(inference).Ocr(pb.OcrRequest(images=[GOOD, wide, wide]), Context()))
    assert inference.cancelled == 2


def test_no_images_and_too_many_images(inference: FakeInference) -> None:
    with pytest.raises(InvalidInput) as info:
        call(servicer(inference).Ocr(pb.OcrRequest(), Context()))
    assert info.value.reason == Reason.NO_IMAGES
    with pytest.raises(InvalidInput) as info:
        call(servicer(inference, max_images_per_request=2).Detect(
            pb.DetectRequest(images=[GOOD] * 3), Context()))
    assert info.value.reason == Reason.TOO_MANY_IMAGES
    assert info.value.metadata == {"limit": "2", "value": "3",
                                   "setting": "max_images_per_request"}


@pytest.mark.parametrize(("request_", "field"), [
    (pb.OcrRequest(images=[GOOD], detection=pb.DetectionParams(box_thresh=1.5)),
     "detection.box_thresh"),
    (pb.OcrRequest(images=[GOOD], classification=pb.ClassificationParams(thresh=-1)),
     "classification.thresh"),
    (pb.OcrRequest(images=[GOOD], recognition=pb.RecognitionParams(drop_score=2)),
     "recognition.drop_score"),
    (pb.OcrRequest(images=[GOOD], detection=pb.DetectionParams(limit_type=99)),  # type: ignore[arg-type]
     "detection.limit_type"),
    (pb.OcrRequest(images=[GOOD], recognition=pb.RecognitionParams(slot="det")),
     "recognition.slot"),
])
def test_bad_parameters_name_their_field(inference: FakeInference, request_: pb.OcrRequest,
                                         field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        call(servicer(inference).Ocr(request_, Context()))
    assert info.value.field == field
    assert inference.calls == []  # refused before any work


def test_the_same_ranges_apply_to_classify(inference: FakeInference) -> None:
    request = pb.ClassifyRequest(images=[GOOD],
                                 classification=pb.ClassificationParams(thresh=1.01))
    with pytest.raises(InvalidInput, match=r"classification\.thresh"):
        call(servicer(inference).Classify(request, Context()))


def test_an_unknown_slot_is_not_found_instead_of_turning_a_stage_off(
        inference: FakeInference) -> None:
    cases = [
        pb.OcrRequest(images=[GOOD], recognition=pb.RecognitionParams(slot="french")),
        pb.OcrRequest(images=[GOOD], classification=pb.ClassificationParams(slot="cls:other")),
        pb.OcrRequest(images=[GOOD], detection=pb.DetectionParams(slot="det:big")),
    ]
    for request in cases:
        with pytest.raises(NotFound) as info:
            call(servicer(inference).Ocr(request, Context()))
        assert info.value.reason == Reason.SLOT_NOT_FOUND


def test_use_angle_cls_without_a_classifier(dictionary: Path) -> None:
    no_cls = FakeInference(dictionary, slots=("det", "rec"))
    implicit = call(servicer(no_cls).Ocr(pb.OcrRequest(images=[GOOD]), Context()))
    assert [m.stage for m in implicit.results[0].models] == ["det", "rec"]
    with pytest.raises(NotFound, match="cls"):
        call(servicer(no_cls).Ocr(pb.OcrRequest(images=[GOOD], use_angle_cls=True), Context()))


# --------------------------------------------------- parameters are honoured

def test_classify_honours_its_threshold(inference: FakeInference) -> None:
    def classify(thresh: float) -> pb.Classification:
        request = pb.ClassifyRequest(images=[GOOD],
                                     classification=pb.ClassificationParams(thresh=thresh))
        return call(servicer(inference).Classify(request, Context())).results[0]

    assert classify(0.9).rotated and not classify(0.99).rotated
    assert classify(0.99).angle == 180  # the label itself does not change


def test_recognize_returns_every_line_and_its_model(inference: FakeInference) -> None:
    crops = [pb.Image(encoded=png(LINE), id=f"c{i}") for i in range(3)]
    response = call(servicer(inference).Recognize(pb.RecognizeRequest(images=crops),
                                                  Context()))
    assert [(r.id, r.text) for r in response.results] == [("c0", "ab"), ("c1", "ab"),
                                                          ("c2", "ab")]
    assert all(r.models[0].name == "fake_rec" and r.models[0].version == 7
               for r in response.results)


def test_the_deadline_and_priority_reach_the_engine(inference: FakeInference) -> None:
    request = pb.DetectRequest(images=[GOOD], priority=pb.PRIORITY_HIGH)
    call(servicer(inference).Detect(request, Context(time_remaining=5.0)))
    ((_, _, priority, deadline),) = inference.calls
    assert priority == 0 and deadline is not None


# ------------------------------------------------------------ GetServerInfo

def test_server_info_tells_limits_effective_defaults_and_slots(
        inference: FakeInference) -> None:
    info = call(servicer(inference, det_db_box_thresh=0.5, max_images_per_request=8)
                .GetServerInfo(pb.GetServerInfoRequest(), Context()))
    assert info.api_version == "ocr.v1" and info.server_version
    assert info.limits.max_images_per_request == 8
    assert info.limits.max_message_bytes == 64 * 1024 * 1024
    det = info.defaults.detection
    assert det.box_thresh == pytest.approx(0.5) and det.limit_side_len == 960
    assert det.limit_type == pb.LIMIT_TYPE_MAX and det.HasField("use_dilation")
    assert info.defaults.classification.thresh == pytest.approx(0.9)
    assert info.defaults.recognition.drop_score == pytest.approx(0.5)
    assert info.defaults.use_angle_cls
    assert [(s.model.slot, s.model.version, s.ready) for s in info.slots] == \
        [("det", 3, True), ("cls", 1, True), ("rec", 7, True)]
