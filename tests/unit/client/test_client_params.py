"""Keyword parameters -> DetectionParams / ClassificationParams / RecognitionParams."""

from __future__ import annotations

from typing import Literal, get_args, get_origin, get_type_hints

import pytest

from ocrclient._core import classify_call, detect_call, ocr_call, recognize_call
from ocrclient._params import (
    HELP,
    ClassificationParams,
    DetectionParams,
    OcrParams,
    StreamParams,
    check_names,
    classification_params,
    detection_params,
    enum_choices,
    param_names,
    recognition_params,
)
from ocrclient.proto.ocr.v1 import ocr_pb2


def test_empty_params_leave_every_field_unset() -> None:
    msg = detection_params({})
    assert msg == ocr_pb2.DetectionParams()
    assert not msg.HasField("box_thresh")
    assert not msg.HasField("limit_side_len")


def test_detection_params_set_each_field() -> None:
    msg = detection_params({
        "det_slot": "det:fast", "limit_side_len": 736, "limit_type": "resize_long",
        "thresh": 0.25, "box_thresh": 0.5, "unclip_ratio": 2.0, "max_candidates": 100,
        "score_mode": "slow", "use_dilation": True, "box_type": "poly",
    })
    assert msg.slot == "det:fast"
    assert msg.limit_side_len == 736
    assert msg.limit_type == ocr_pb2.LIMIT_TYPE_RESIZE_LONG
    assert msg.thresh == pytest.approx(0.25)
    assert msg.box_thresh == pytest.approx(0.5)
    assert msg.unclip_ratio == pytest.approx(2.0)
    assert msg.max_candidates == 100
    assert msg.score_mode == ocr_pb2.SCORE_MODE_SLOW
    assert msg.use_dilation is True
    assert msg.box_type == ocr_pb2.BOX_TYPE_POLY


def test_false_and_zero_are_sent_none_is_not() -> None:
    msg = detection_params({"use_dilation": False, "thresh": 0.0, "box_thresh": None})
    assert msg.HasField("use_dilation") and msg.use_dilation is False
    assert msg.HasField("thresh") and msg.thresh == 0.0
    assert not msg.HasField("box_thresh")


def test_classification_and_recognition_params_are_renamed_to_proto_fields() -> None:
    cls = classification_params({"cls_slot": "cls", "cls_thresh": 0.8})
    assert (cls.slot, cls.thresh) == ("cls", pytest.approx(0.8))
    rec = recognition_params({"language": "french", "drop_score": 0.3})
    assert (rec.slot, rec.drop_score) == ("french", pytest.approx(0.3))
    assert not recognition_params({}).HasField("drop_score")


def test_stage_builders_ignore_other_stages_keys() -> None:
    params = {"box_thresh": 0.5, "cls_thresh": 0.8, "drop_score": 0.1}
    assert not classification_params(params).slot
    assert classification_params(params).thresh == pytest.approx(0.8)
    assert recognition_params(params).drop_score == pytest.approx(0.1)
    assert not detection_params(params).HasField("thresh")


@pytest.mark.parametrize(("name", "value"), [("limit_type", "maximum"),
                                             ("box_type", "QUAD"),
                                             ("score_mode", "unspecified")])
def test_unknown_enum_value_is_a_value_error(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        detection_params({name: value})


def test_unknown_parameter_name_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="box_thres"):
        check_names({"box_thres": 0.5}, OcrParams)
    with pytest.raises(TypeError, match="language"):
        check_names({"language": "french"}, DetectionParams)
    check_names({"language": "french", "use_angle_cls": False}, OcrParams)


def test_literal_choices_match_the_proto_enums() -> None:
    """The TypedDict Literals (static types, CLI choices) must track the proto."""
    hints = get_type_hints(DetectionParams)
    fields = ocr_pb2.DetectionParams.DESCRIPTOR.fields_by_name
    for name in ("limit_type", "score_mode", "box_type"):
        assert get_origin(hints[name]) is Literal
        assert list(get_args(hints[name])) == enum_choices(fields[name].enum_type)


def test_every_parameter_has_help() -> None:
    assert param_names(StreamParams) == set(HELP)  # StreamParams holds every OcrParams key
    assert param_names(OcrParams) < param_names(StreamParams)
    assert param_names(ClassificationParams) == {"cls_slot", "cls_thresh"}


def test_ocr_request_carries_every_stage() -> None:
    call = ocr_call([b"img"], "bgr", {"box_thresh": 0.4, "language": "rec:german",
                                      "cls_thresh": 0.7, "return_timings": True})
    request = call.request
    assert isinstance(request, ocr_pb2.OcrRequest)
    assert (call.service, call.method) == ("ocr", "Ocr")
    assert request.detection.box_thresh == pytest.approx(0.4)
    assert request.recognition.slot == "rec:german"
    assert request.classification.thresh == pytest.approx(0.7)
    assert request.return_timings is True
    assert not request.HasField("use_angle_cls")
    assert [i.encoded for i in request.images] == [b"img"]


def test_use_angle_cls_false_is_sent() -> None:
    request = ocr_call([b"img"], "bgr", {"use_angle_cls": False}).request
    assert isinstance(request, ocr_pb2.OcrRequest)
    assert request.HasField("use_angle_cls") and request.use_angle_cls is False


def test_each_call_rejects_other_stages_parameters() -> None:
    with pytest.raises(TypeError):
        detect_call([b"x"], "bgr", {"drop_score": 0.1})
    with pytest.raises(TypeError):
        classify_call([b"x"], "bgr", {"box_thresh": 0.1})
    with pytest.raises(TypeError):
        recognize_call([b"x"], "bgr", {"use_angle_cls": True})


def test_no_images_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="no images"):
        ocr_call([], "bgr", {})


def test_priority_is_sent_on_every_call_and_validated() -> None:
    from ocrclient._core import classify_call, detect_call, ocr_call, recognize_call
    from ocrclient.proto.ocr.v1 import ocr_pb2

    for make in (ocr_call, detect_call, classify_call, recognize_call):
        assert make([b"img"], "bgr", {"priority": "high"}).request.priority == \
            ocr_pb2.PRIORITY_HIGH
        assert make([b"img"], "bgr", {}).request.priority == ocr_pb2.PRIORITY_UNSPECIFIED
    with pytest.raises(ValueError, match="priority"):
        ocr_call([b"img"], "bgr", {"priority": "urgent"})


def test_a_stream_config_carries_pacing_and_ocr_parameters() -> None:
    from ocrclient._core import stream_config

    config = stream_config({"overload": "block", "max_in_flight": 3, "dedup_threshold": 0.05,
                            "max_staleness_s": 0.5, "language": "french",
                            "use_angle_cls": False})
    assert config.overload == ocr_pb2.OVERLOAD_POLICY_BLOCK
    assert (config.max_in_flight, config.max_staleness_s) == (3, 0.5)
    assert config.dedup_threshold == pytest.approx(0.05)
    assert config.recognition.slot == "french" and config.use_angle_cls is False
    assert stream_config({}).overload == ocr_pb2.OVERLOAD_POLICY_LATEST
    with pytest.raises(ValueError, match="overload must be one of latest, block"):
        stream_config({"overload": "newest"})
