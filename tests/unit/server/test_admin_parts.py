"""The ModelService's pure parts: spec syntax, the URL allow-list and how a slot is
reported (the token check: test_auth.py)."""

from __future__ import annotations

import pytest

from ocrclient.proto.ocr.v1 import models_pb2 as mpb
from ocrserve.engine.protocol import SlotInfo
from ocrserve.errors import InvalidInput, Reason
from ocrserve.frontend.admin import check_pull_url, slot_status, spec_text


@pytest.mark.parametrize(("spec", "text"), [
    (mpb.ModelSpec(name="ch_PP-OCRv2_rec"), "ch_PP-OCRv2_rec"),
    (mpb.ModelSpec(name="ch_PP-OCRv2_rec", version=2), "ch_PP-OCRv2_rec@2"),
    (mpb.ModelSpec(name="cls", version=1, format="onnx"), "cls@1@onnx"),
    (mpb.ModelSpec(name="cls", format="paddle"), "cls@paddle"),
])
def test_a_model_spec_becomes_the_slot_spec_syntax(spec: mpb.ModelSpec, text: str) -> None:
    assert spec_text(spec) == text


@pytest.mark.parametrize("spec", [mpb.ModelSpec(), mpb.ModelSpec(name="a@1"),
                                  mpb.ModelSpec(name="a", format="tflite")])
def test_a_bad_model_spec_is_invalid(spec: mpb.ModelSpec) -> None:
    with pytest.raises(InvalidInput) as refused:
        spec_text(spec)
    assert refused.value.field in ("model.name", "model.format")


def test_only_allowed_hosts_may_be_fetched_from() -> None:
    check_pull_url("http://127.0.0.1:8000/x.tar", ["127.0.0.1"])
    check_pull_url("https://Models.Example.org/a/b.tar", ["models.example.org"])
    for url in ("http://169.254.169.254/latest/meta-data", "file:///etc/passwd",
                "ftp://models.example.org/x.tar", "http:///x.tar"):
        with pytest.raises(InvalidInput) as refused:
            check_pull_url(url, ["models.example.org"])
        assert refused.value.reason == Reason.URL_NOT_ALLOWED


def test_a_slot_during_a_swap_reports_both_models() -> None:
    info = SlotInfo("rec", "rec", "ch_PP-OCRv2_rec", 1, "openvino", "cpu", (3, 32, None),
                    standby_model="ch_PP-OCRv4_rec", standby_version=1, standby_state="WARMING",
                    load_s=0.4, warm_s=2.5, last_used=1_700_000_000.0)
    status = slot_status(info, {"batches": 3, "items": 12})
    assert status.state == mpb.SLOT_STATE_READY
    assert (status.standby_model, status.standby_version) == ("ch_PP-OCRv4_rec", 1)
    assert (status.batches, status.batched_items, status.queued) == (3, 12, 0)
    assert status.warm_seconds == pytest.approx(2.5)
    assert status.last_used_unix == pytest.approx(1_700_000_000.0)
