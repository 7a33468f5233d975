"""Result dataclasses from hand-built protobuf responses."""

from __future__ import annotations

import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2

from ocrclient import (
    CatalogModel,
    Classification,
    InstalledVersion,
    InvalidArgument,
    Limits,
    ModelRef,
    Recognition,
    ServedSlot,
    ServerError,
    SlotStatus,
    StageTimings,
    TextBox,
    TextLine,
)
from ocrclient._core import (
    catalog_call,
    classify_call,
    detect_call,
    health_call,
    ocr_call,
    recognize_call,
    server_info_call,
    slots_call,
)
from ocrclient.proto.ocr.v1 import models_pb2, ocr_pb2

QUAD = [ocr_pb2.Point(x=x, y=y) for x, y in [(1, 2), (30, 2), (30.5, 12), (1, 12)]]
MODELS = [ocr_pb2.ModelRef(stage="det", slot="det", name="ch_PP-OCRv2_det", version=1),
          ocr_pb2.ModelRef(stage="rec", slot="rec", name="ch_PP-OCRv2_rec", version=2)]
EXPECTED_MODELS = (ModelRef("det", "det", "ch_PP-OCRv2_det", 1),
                   ModelRef("rec", "rec", "ch_PP-OCRv2_rec", 2))


def test_ocr_response_becomes_results_with_lines_timings_and_models() -> None:
    response = ocr_pb2.OcrResponse(
        results=[
            ocr_pb2.OcrResult(
                id="a", width=640, height=480,
                lines=[ocr_pb2.TextLine(box=QUAD, text="你好", score=0.98, angle=180,
                                        angle_score=0.93, box_score=0.71, rotated=True)],
                timings=ocr_pb2.StageTimings(decode_ms=1, det_ms=2, cls_ms=3, rec_ms=4,
                                             total_ms=10),
                models=MODELS,
            ),
            ocr_pb2.OcrResult(id="b", width=10, height=20, models=MODELS[1:]),
        ],
    )
    first, second = ocr_call([b"a", b"b"], "bgr", {}).parse(response)
    assert (first.id, first.width, first.height) == ("a", 640, 480)
    assert first.lines == (TextLine(text="你好", score=0.98,
                                    box=((1.0, 2.0), (30.0, 2.0), (30.5, 12.0), (1.0, 12.0)),
                                    angle=180, angle_score=0.93, box_score=0.71,
                                    rotated=True),)
    assert first.timings == StageTimings(1.0, 2.0, 3.0, 4.0, 10.0)
    assert first.models == EXPECTED_MODELS and first.error is None
    assert (second.lines, second.timings, second.models) == ((), None, EXPECTED_MODELS[1:])


def _image_error(reason: str, field: str) -> status_pb2.Status:
    status = status_pb2.Status(code=3, message="image 1: could not be decoded")
    status.details.add().Pack(error_details_pb2.ErrorInfo(reason=reason, domain="ocrserve"))
    status.details.add().Pack(error_details_pb2.BadRequest(field_violations=[
        error_details_pb2.BadRequest.FieldViolation(field=field, description="bad")]))
    status.details.add().Pack(error_details_pb2.RequestInfo(request_id="rid-7"))
    return status


def test_a_failed_image_has_its_error_and_the_others_their_results() -> None:
    response = ocr_pb2.OcrResponse(results=[
        ocr_pb2.OcrResult(id="a", width=5, height=5,
                          lines=[ocr_pb2.TextLine(box=QUAD, text="ok", score=0.9)]),
        ocr_pb2.OcrResult(id="b", error=_image_error("IMAGE_UNDECODABLE", "images[1].encoded")),
    ])
    good, bad = ocr_call([b"a", b"b"], "bgr", {}).parse(response)
    assert good.error is None and good.lines[0].text == "ok"
    assert isinstance(bad.error, InvalidArgument)
    assert (bad.error.reason, bad.error.image_index, bad.error.request_id) == \
        ("IMAGE_UNDECODABLE", 1, "rid-7")
    assert [v.field for v in bad.error.field_violations] == ["images[1].encoded"]
    assert bad.lines == ()


def test_strict_calls_raise_the_first_failed_image() -> None:
    response = ocr_pb2.DetectResponse(results=[
        ocr_pb2.DetectResult(id="a"),
        ocr_pb2.DetectResult(id="b", error=_image_error("IMAGE_TOO_LARGE", "images[1].encoded")),
    ])
    with pytest.raises(InvalidArgument) as info:
        detect_call([b"a", b"b"], "bgr", {"strict": True}).parse(response)
    assert info.value.reason == "IMAGE_TOO_LARGE" and info.value.image_index == 1
    assert detect_call([b"a", b"b"], "bgr", {}, strict=True).options == {}
    with pytest.raises(InvalidArgument):  # the client's strict default applies too
        detect_call([b"a", b"b"], "bgr", {}, strict=True).parse(response)


def test_float32_fields_read_as_their_decimal_value() -> None:
    response = ocr_pb2.OcrResponse(results=[ocr_pb2.OcrResult(
        lines=[ocr_pb2.TextLine(box=QUAD, text="x", score=0.98)])])
    [result] = ocr_call([b"a"], "bgr", {}).parse(response)
    assert ocr_pb2.TextLine(score=0.98).score != 0.98  # float32 on the wire
    assert result.lines[0].score == 0.98
    assert repr(result.lines[0].score) == "0.98"


def test_results_are_frozen_and_hashable() -> None:
    line = TextLine("a", 0.5, ((0.0, 0.0),))
    with pytest.raises(AttributeError):
        line.text = "b"  # type: ignore[misc]
    assert len({line, TextLine("a", 0.5, ((0.0, 0.0),))}) == 1


def test_detect_response_becomes_boxes() -> None:
    response = ocr_pb2.DetectResponse(results=[ocr_pb2.DetectResult(
        id="d", width=100, height=50, boxes=[ocr_pb2.TextBox(points=QUAD, score=0.75)])])
    [result] = detect_call([b"a"], "bgr", {}).parse(response)
    assert result.boxes == (TextBox(((1.0, 2.0), (30.0, 2.0), (30.5, 12.0), (1.0, 12.0)),
                                    0.75),)
    assert (result.width, result.height, result.timings, result.models) == (100, 50, None, ())


def test_classify_and_recognize_responses() -> None:
    classified = classify_call([b"a"], "bgr", {}).parse(ocr_pb2.ClassifyResponse(
        results=[ocr_pb2.Classification(id="c", angle=180, score=0.99, rotated=True,
                                        models=MODELS[:1])]))
    assert classified == [Classification("c", 180, 0.99, True, EXPECTED_MODELS[:1])]
    recognized = recognize_call([b"a", b"b"], "bgr", {}).parse(ocr_pb2.RecognizeResponse(
        results=[ocr_pb2.Recognition(id="r", text="abc", score=0.5),
                 ocr_pb2.Recognition(id="s", text="", score=0.0)]))
    assert recognized == [Recognition("r", "abc", 0.5), Recognition("s", "", 0.0)]


@pytest.mark.parametrize("count", [0, 2])
def test_result_count_must_match_images_sent(count: int) -> None:
    response = ocr_pb2.OcrResponse(results=[ocr_pb2.OcrResult()] * count)
    with pytest.raises(ServerError, match=f"{count} results for 1 images"):
        ocr_call([b"a"], "bgr", {}).parse(response)


def test_catalog_and_slots() -> None:
    catalog = catalog_call({}).parse(models_pb2.ListCatalogResponse(models=[
        models_pb2.CatalogModel(
            name="ch_PP-OCRv2_rec", kind=models_pb2.MODEL_KIND_REC, language="ch",
            size="8.5M", inference_url="https://example/x.tar",
            installed=[models_pb2.InstalledVersion(version=1, format="onnx", source="wheel")]),
        models_pb2.CatalogModel(name="odd"),
    ]))
    assert catalog == [
        CatalogModel("ch_PP-OCRv2_rec", "rec", "ch", False, "8.5M", "https://example/x.tar",
                     (InstalledVersion(1, "onnx", "wheel"),)),
        CatalogModel("odd", "", "", False, "", "", ()),
    ]
    slots = slots_call({}).parse(models_pb2.ListSlotsResponse(slots=[models_pb2.SlotStatus(
        slot="det", kind=models_pb2.MODEL_KIND_DET, model="ch_PP-OCRv2_det", version=3,
        backend="onnxruntime", device="cpu", state=models_pb2.SLOT_STATE_READY)]))
    assert slots == [SlotStatus("det", "det", "ch_PP-OCRv2_det", 3, "onnxruntime", "cpu",
                                "READY", "")]


@pytest.mark.parametrize(("status", "name"), [
    (health_pb2.HealthCheckResponse.SERVING, "SERVING"),
    (health_pb2.HealthCheckResponse.NOT_SERVING, "NOT_SERVING"),
])
def test_health_status_name(status: int, name: str) -> None:
    call = health_call("ocr.v1.OcrService", {})
    assert call.request == health_pb2.HealthCheckRequest(service="ocr.v1.OcrService")
    assert call.parse(health_pb2.HealthCheckResponse(status=status)) == name


def test_server_info_reads_limits_defaults_and_slots() -> None:
    detection = ocr_pb2.DetectionParams(
        slot="det", limit_side_len=960, limit_type=ocr_pb2.LIMIT_TYPE_MAX, thresh=0.3,
        box_thresh=0.6, unclip_ratio=1.5, max_candidates=1000,
        score_mode=ocr_pb2.SCORE_MODE_FAST, use_dilation=False, box_type=ocr_pb2.BOX_TYPE_QUAD)
    info = server_info_call({}).parse(ocr_pb2.ServerInfo(
        server_version="9.9", api_version="ocr.v1",
        limits=ocr_pb2.Limits(max_message_bytes=4, max_image_pixels=5,
                              max_images_per_request=6, max_rec_width=7),
        defaults=ocr_pb2.Defaults(
            detection=detection,
            classification=ocr_pb2.ClassificationParams(slot="cls", thresh=0.9),
            recognition=ocr_pb2.RecognitionParams(slot="rec", drop_score=0.5),
            use_angle_cls=True),
        slots=[ocr_pb2.ServedSlot(model=MODELS[1], language="ch", ready=True)]))
    assert (info.server_version, info.api_version) == ("9.9", "ocr.v1")
    assert info.limits == Limits(4, 5, 6, 7, 0, 0, 0, 0)
    assert info.defaults["box_thresh"] == 0.6 and info.defaults["limit_type"] == "max"
    assert info.defaults["cls_thresh"] == 0.9 and info.defaults["language"] == "rec"
    assert info.defaults["use_angle_cls"] is True and info.defaults["score_mode"] == "fast"
    assert info.slots == (ServedSlot(EXPECTED_MODELS[1], "ch", True),)
