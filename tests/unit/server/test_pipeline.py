"""Pipeline over a fake Inference: stage order, parameters, models per stage, failures."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from conftest import FakeInference, page

from ocrserve.engine.policy import Priority
from ocrserve.errors import InvalidInput, ModelError, NotFound, Reason
from ocrserve.pipeline import ModelUse, OcrParams, Pipeline, Request

DET = ModelUse("det", "det", "fake_det", 3)
CLS = ModelUse("cls", "cls", "fake_cls", 1)
REC = ModelUse("rec", "rec", "fake_rec", 7)
TWO_LINES = page((40, 30, 200, 30), (40, 120, 120, 30))


def test_detect_finds_each_dark_rectangle_in_reading_order(inference: FakeInference) -> None:
    output = asyncio.run(Pipeline(inference).detect(TWO_LINES, OcrParams().det))
    assert output.models == (DET,)
    assert len(output.value) == 2
    tops = [float(box.points[:, 1].min()) for box in output.value]
    assert tops[0] < 30 < 60 < tops[1] < 120  # each box holds its rectangle, unclipped


def test_ocr_reads_every_line_and_names_the_models_of_every_stage(
        inference: FakeInference) -> None:
    output = asyncio.run(Pipeline(inference).ocr(TWO_LINES, OcrParams()))
    assert [line.text for line in output.value] == ["ab", "ab"]
    assert all(line.score == pytest.approx(0.9) for line in output.value)
    assert output.models == (DET, CLS, REC)
    # the classifier said 180 with 0.95 > 0.9: each crop was turned before recognition
    assert all(line.angle == 180 and line.rotated for line in output.value)


def test_cls_threshold_decides_rotation_but_not_the_label(inference: FakeInference) -> None:
    params = dataclasses.replace(OcrParams(), cls_thresh=0.99)
    output = asyncio.run(Pipeline(inference).ocr(TWO_LINES, params))
    assert all(line.angle == 180 and not line.rotated for line in output.value)
    classified = asyncio.run(Pipeline(inference).classify([TWO_LINES], thresh=0.5))
    assert classified.value[0].rotated and classified.models == (CLS,)


def test_without_the_classifier_no_cls_call_is_made(inference: FakeInference) -> None:
    params = dataclasses.replace(OcrParams(), use_angle_cls=False)
    output = asyncio.run(Pipeline(inference).ocr(TWO_LINES, params))
    assert output.models == (DET, REC)
    assert [slot for slot, *_ in inference.calls] == ["det", "rec"]
    assert all(line.angle == 0 and not line.rotated for line in output.value)


def test_drop_score_filters_lines(inference: FakeInference) -> None:
    params = dataclasses.replace(OcrParams(), drop_score=0.95)
    assert asyncio.run(Pipeline(inference).ocr(TWO_LINES, params)).value == []


def test_a_blank_page_makes_no_cls_or_rec_call(inference: FakeInference) -> None:
    output = asyncio.run(Pipeline(inference).ocr(page(), OcrParams()))
    assert output.value == [] and output.models == (DET,)
    assert [slot for slot, *_ in inference.calls] == ["det"]


def test_priority_and_deadline_reach_the_engine(inference: FakeInference) -> None:
    request = Request(deadline=123.0, priority=Priority.HIGH)
    asyncio.run(Pipeline(inference).ocr(TWO_LINES, OcrParams(), request))
    assert {(priority, deadline) for _, _, priority, deadline in inference.calls} == \
        {(Priority.HIGH, 123.0)}


def test_an_unknown_slot_is_not_found_with_its_field(inference: FakeInference) -> None:
    with pytest.raises(NotFound) as info:
        Pipeline(inference).slot("rec:french", "rec", "recognition.slot")
    assert info.value.reason == Reason.SLOT_NOT_FOUND
    assert info.value.field == "recognition.slot"
    assert info.value.metadata == {"slot": "rec:french", "loaded": "rec"}
    with pytest.raises(NotFound):  # a slot of another kind does not count
        Pipeline(inference).slot("det", "rec")


def test_engine_failures_reach_the_caller(inference: FakeInference) -> None:
    inference.failures["rec"] = ModelError("rec blew up")
    with pytest.raises(ModelError, match="rec blew up"):
        asyncio.run(Pipeline(inference).ocr(TWO_LINES, OcrParams()))


@pytest.mark.parametrize(("change", "field"), [
    ({"cls_thresh": 1.5}, "classification.thresh"),
    ({"drop_score": -0.1}, "recognition.drop_score"),
    ({"drop_score": float("nan")}, "recognition.drop_score"),
    ({"det": dataclasses.replace(OcrParams().det, box_thresh=2.0)}, "detection.box_thresh"),
    ({"det": dataclasses.replace(OcrParams().det, unclip_ratio=0.0)}, "detection.unclip_ratio"),
    ({"det": dataclasses.replace(OcrParams().det, limit_side_len=0)},
     "detection.limit_side_len"),
])
def test_parameter_ranges_name_the_request_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        dataclasses.replace(OcrParams(), **change).validate()  # type: ignore[arg-type]
    assert info.value.field == field
    assert info.value.reason == Reason.PARAMETER_OUT_OF_RANGE
    assert info.value.metadata["field"] == field
