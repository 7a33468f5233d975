from __future__ import annotations

import pytest

from ocrserve.errors import InvalidInput
from ocrserve.models.slots import (
    SlotSpec,
    check_slot,
    normalize_slot,
    parse_slot_spec,
    parse_slot_specs,
)


def test_parse_name_version_and_format() -> None:
    assert parse_slot_spec("det=ch_PP-OCRv2_det") == SlotSpec("det", "ch_PP-OCRv2_det")
    assert parse_slot_spec("rec:french=french_mobile_v2.0_rec@3") == \
        SlotSpec("rec:french", "french_mobile_v2.0_rec", version=3)
    assert parse_slot_spec("cls=ch_ppocr_mobile_v2.0_cls@onnx").format == "onnx"
    assert parse_slot_spec("rec:fr=x").kind == "rec"
    assert parse_slot_spec("cls=ch_ppocr_mobile_v2.0_cls@2@paddle") == \
        SlotSpec("cls", "ch_ppocr_mobile_v2.0_cls", version=2, format="paddle")


@pytest.mark.parametrize("text", [
    "det", "=x", "ocr=x", "rec:=x", "det=", "rec:a b=x", "rec:../x=m", "rec:" + "a" * 129 + "=m",
    "det=..", "det=a..b", "det=.hidden", "det=" + "m" * 129, "det=a\\b",
])
def test_malformed_specs_are_rejected(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_slot_spec(text)


def test_bad_names_say_which_field() -> None:
    with pytest.raises(InvalidInput, match="slot rec:fr") as failed:
        parse_slot_spec("rec:fr=a..b")
    assert failed.value.field == "slot rec:fr"
    with pytest.raises(InvalidInput) as failed:
        check_slot("rec:a/b")
    assert failed.value.field == "slot"
    assert parse_slot_spec("rec:" + "a" * 128 + "=" + "m" * 128).model == "m" * 128


def test_a_server_needs_det_or_rec() -> None:
    with pytest.raises(InvalidInput, match="nothing to serve"):
        parse_slot_specs(["cls=x"])


def test_request_slot_names_are_normalized() -> None:
    assert normalize_slot("", "rec") == "rec"
    assert normalize_slot("french", "rec") == "rec:french"
    assert normalize_slot("rec:french", "rec") == "rec:french"
    with pytest.raises(InvalidInput):
        normalize_slot("det", "rec")


@pytest.mark.parametrize("text", ["det=ch_PP-OCRv2_det", "rec:french=french_mobile_v2.0_rec@3",
                                  "cls=ch_ppocr_mobile_v2.0_cls@onnx",
                                  "cls=ch_ppocr_mobile_v2.0_cls@2@paddle",
                                  "rec=/models/ch_PP-OCRv2_rec/1"])
def test_a_spec_writes_back_what_it_was_read_from(text: str) -> None:
    assert parse_slot_spec(text).text == text
