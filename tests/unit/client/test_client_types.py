"""Result dataclasses from hand-built protobuf responses."""

from __future__ import annotations

import pytest
from grpc_health.v1 import health_pb2

from ocrclient import (
    CatalogModel,
    Classification,
    InstalledVersion,
    ModelRef,
    Recognition,
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
    slots_call,
)
from ocrclient._proto.ocr.v1 import models_pb2, ocr_pb2

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
                                        angle_score=0.93, box_score=0.71)],
                timings=ocr_pb2.StageTimings(decode_ms=1, det_ms=2, cls_ms=3, rec_ms=4,
                                             total_ms=10),
            ),
            ocr_pb2.OcrResult(id="b", width=10, height=20),
        ],
        models=MODELS,
    )
    first, second = ocr_call([b"a", b"b"], "bgr", {}).parse(response)
    assert (first.id, first.width, first.height) == ("a", 640, 480)
    assert first.lines == (TextLine(text="你好", score=0.98,
                                    box=((1.0, 2.0), (30.0, 2.0), (30.5, 12.0), (1.0, 12.0)),
                                    angle=180, angle_score=0.93, box_score=0.71),)
    assert first.timings == StageTimings(1.0, 2.0, 3.0, 4.0, 10.0)
    assert first.models == EXPECTED_MODELS
    assert (second.lines, second.timings, second.models) == ((), None, EXPECTED_MODELS)


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
        results=[ocr_pb2.Classification(id="c", angle=180, score=0.99)], models=MODELS[:1]))
    assert classified == [Classification("c", 180, 0.99, EXPECTED_MODELS[:1])]
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
    catalog = catalog_call().parse(models_pb2.ListCatalogResponse(models=[
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
    slots = slots_call().parse(models_pb2.ListSlotsResponse(slots=[models_pb2.SlotStatus(
        slot="det", kind=models_pb2.MODEL_KIND_DET, model="ch_PP-OCRv2_det", version=3,
        backend="onnxruntime", device="cpu", state=models_pb2.SLOT_STATE_READY)]))
    assert slots == [SlotStatus("det", "det", "ch_PP-OCRv2_det", 3, "onnxruntime", "cpu",
                                "READY", "")]


@pytest.mark.parametrize(("status", "name"), [
    (health_pb2.HealthCheckResponse.SERVING, "SERVING"),
    (health_pb2.HealthCheckResponse.NOT_SERVING, "NOT_SERVING"),
])
def test_health_status_name(status: int, name: str) -> None:
    call = health_call("ocr.v1.OcrService")
    assert call.request == health_pb2.HealthCheckRequest(service="ocr.v1.OcrService")
    assert call.parse(health_pb2.HealthCheckResponse(status=status)) == name
