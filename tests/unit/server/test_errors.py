"""The exception tree, its crossing between processes, and the google.rpc.Status it becomes."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from ocrclient.proto.ocr.v1 import ocr_pb2
from ocrserve.context import request_id
from ocrserve.errors import (
    InvalidInput,
    ModelError,
    NotFound,
    OcrError,
    Reason,
    ResourceExhausted,
    Unavailable,
    error_from_dict,
)
from ocrserve.frontend.errors import (
    MAX_REQUEST_ID_LENGTH,
    error_from_status,
    incoming_request_id,
    status_code,
    status_of,
)


def test_reasons_are_the_api_enum() -> None:
    api = {v.name for v in ocr_pb2.ErrorReason.DESCRIPTOR.values if v.number != 0}
    assert {r.value for r in Reason} == api


@pytest.mark.parametrize("error", [
    InvalidInput("box_thresh out of range", reason=Reason.PARAMETER_OUT_OF_RANGE,
                 field="detection.box_thresh", metadata={"limit": "[0, 1]", "value": 2}),
    ResourceExhausted("queue full", metadata={"limit": 4}),
    Unavailable("draining", reason=Reason.SERVER_DRAINING),
    NotFound("no slot"),
    ModelError("kaput"),
])
def test_errors_cross_a_process_boundary_whole(error: OcrError) -> None:
    rebuilt = error_from_dict(error.to_dict())
    assert type(rebuilt) is type(error)
    assert rebuilt.to_dict() == error.to_dict()


def test_an_unknown_reason_keeps_the_class_default() -> None:
    rebuilt = error_from_dict({"status": "NOT_FOUND", "reason": "FROM_THE_FUTURE",
                               "message": "x"})
    assert isinstance(rebuilt, NotFound) and rebuilt.reason == Reason.SLOT_NOT_FOUND


def test_transient_errors_carry_a_retry_delay_and_permanent_ones_do_not() -> None:
    assert ResourceExhausted("full").transient and Unavailable("restarting").transient
    assert not InvalidInput("too large", reason=Reason.IMAGE_TOO_LARGE).transient
    assert not ModelError("broken").transient


def unpack(status: object, kind: type) -> object:
    found = [d for d in status.details if d.Is(kind.DESCRIPTOR)]  # type: ignore[attr-defined]
    if not found:
        return None
    message = kind()
    found[0].Unpack(message)
    return message


def test_status_details_name_reason_field_limit_retry_and_request() -> None:
    token = request_id.set("req-9")
    try:
        status = status_of(ResourceExhausted("slot 'rec' queue full", field="images",
                                             metadata={"limit": 1024, "value": 1030}))
    finally:
        request_id.reset(token)
    assert status.code == 8 and status.message == "slot 'rec' queue full"
    info = unpack(status, error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain) == ("QUEUE_FULL", "ocrserve")  # type: ignore[attr-defined]
    assert dict(info.metadata) == {"limit": "1024", "value": "1030"}  # type: ignore[attr-defined]
    bad = unpack(status, error_details_pb2.BadRequest)
    assert bad.field_violations[0].field == "images"  # type: ignore[attr-defined]
    retry = unpack(status, error_details_pb2.RetryInfo)
    assert retry.retry_delay.ToMilliseconds() == 1000  # type: ignore[attr-defined]
    assert unpack(status, error_details_pb2.RequestInfo).request_id == "req-9"  # type: ignore[attr-defined]


def test_internal_errors_do_not_show_their_text_and_permanent_ones_no_retry() -> None:
    status = status_of(ModelError("onnxruntime: [ONNXRuntimeError] : 2 : INVALID_ARGUMENT"))
    assert status.code == 13 and "onnxruntime" not in status.message
    assert unpack(status, error_details_pb2.RetryInfo) is None
    assert unpack(status, error_details_pb2.BadRequest) is None


@pytest.mark.parametrize(("sent", "kept"), [
    ([("x-request-id", "abc-123")], True),
    ([("x-request-id", "")], False),
    ([("x-request-id", "a" * (MAX_REQUEST_ID_LENGTH + 1))], False),
    ([("x-request-id", "bad\nid")], False),
    ([("x-request-id", "héllo")], False),
    ([], False),
])
def test_request_ids_are_taken_only_when_sane(sent: list[tuple[str, str]], kept: bool) -> None:
    chosen = incoming_request_id(sent)
    if kept:
        assert chosen == sent[0][1]
    else:
        assert len(chosen) == 32 and chosen.isalnum()


@pytest.mark.parametrize("error", [
    InvalidInput("box_thresh out of range", reason=Reason.PARAMETER_OUT_OF_RANGE,
                 field="detection.box_thresh", metadata={"limit": "[0, 1]", "value": 2}),
    ResourceExhausted("busy", reason=Reason.SERVER_OVERLOADED, retry_after_s=0.25),
    NotFound("no rec slot named 'x'", metadata={"slot": "x"}),
])
def test_a_status_from_another_process_becomes_the_same_error(error: OcrError) -> None:
    status = status_of(error)
    trailing = (("grpc-status-details-bin", status.SerializeToString()),)
    rebuilt = error_from_status(status_code(error), status.message, trailing)
    assert type(rebuilt) is type(error)
    assert rebuilt.to_dict() == error.to_dict()


def test_a_status_without_details_keeps_its_code_and_message() -> None:
    rebuilt = error_from_status(grpc.StatusCode.UNAVAILABLE, "engine restarting", None)
    assert isinstance(rebuilt, Unavailable)
    assert rebuilt.message == "engine restarting"
