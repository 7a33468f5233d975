"""grpc.RpcError -> the client's exception tree."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2

from ocrclient import (
    Cancelled,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    OcrClientError,
    PermissionDenied,
    ResourceExhausted,
    ServerError,
    Unauthenticated,
    Unavailable,
    Unimplemented,
)
from ocrclient._errors import from_rpc_error


class StatusError(grpc.RpcError):
    """What grpc raises for a failed call: an RpcError with code(), details() and
    trailing_metadata()."""

    def __init__(self, code: grpc.StatusCode, details: str | None,
                 trailing: tuple[tuple[str, str | bytes], ...] = ()) -> None:
        super().__init__()
        self._code = code
        self._details = details
        self._trailing = trailing

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str | None:
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        return self._trailing


def rich_status(code: grpc.StatusCode, message: str) -> status_pb2.Status:
    """A google.rpc.Status as the server builds it for a full queue."""
    status = status_pb2.Status(code=code.value[0], message=message)
    status.details.add().Pack(error_details_pb2.ErrorInfo(
        reason="QUEUE_FULL", domain="ocrserve", metadata={"limit": "1024", "value": "1030"}))
    status.details.add().Pack(error_details_pb2.BadRequest(field_violations=[
        error_details_pb2.BadRequest.FieldViolation(field="images", description="too many")]))
    status.details.add().Pack(error_details_pb2.RetryInfo(
        retry_delay=duration_pb2.Duration(seconds=1, nanos=500_000_000)))
    status.details.add().Pack(error_details_pb2.RequestInfo(request_id="abc123"))
    return status


@pytest.mark.parametrize(("status", "cls"), [
    (grpc.StatusCode.INVALID_ARGUMENT, InvalidArgument),
    (grpc.StatusCode.NOT_FOUND, NotFound),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, ResourceExhausted),
    (grpc.StatusCode.UNAVAILABLE, Unavailable),
    (grpc.StatusCode.DEADLINE_EXCEEDED, DeadlineExceeded),
    (grpc.StatusCode.CANCELLED, Cancelled),
    (grpc.StatusCode.FAILED_PRECONDITION, FailedPrecondition),
    (grpc.StatusCode.UNIMPLEMENTED, Unimplemented),
    (grpc.StatusCode.UNAUTHENTICATED, Unauthenticated),
    (grpc.StatusCode.PERMISSION_DENIED, PermissionDenied),
    (grpc.StatusCode.INTERNAL, ServerError),
    (grpc.StatusCode.UNKNOWN, ServerError),
    (grpc.StatusCode.DATA_LOSS, ServerError),
])
def test_status_codes_map_to_their_class(status: grpc.StatusCode,
                                         cls: type[OcrClientError]) -> None:
    error = from_rpc_error(StatusError(status, "slot rec:klingon not found"))
    assert type(error) is cls
    assert error.code == status.name
    assert error.details == "slot rec:klingon not found"
    assert str(error) == f"{status.name}: slot rec:klingon not found"


def test_unlisted_code_gives_the_base_class_with_the_code() -> None:
    error = from_rpc_error(StatusError(grpc.StatusCode.ABORTED, "no"))
    assert type(error) is OcrClientError
    assert error.code == "ABORTED"


@pytest.mark.parametrize("details", [None, ""])
def test_missing_details_fall_back_to_the_code(details: str | None) -> None:
    error = from_rpc_error(StatusError(grpc.StatusCode.UNAVAILABLE, details))
    assert isinstance(error, Unavailable)
    assert error.details == "UNAVAILABLE"


def test_rpc_error_without_status_is_unknown() -> None:
    error = from_rpc_error(grpc.RpcError("channel closed"))
    assert isinstance(error, ServerError)
    assert (error.code, error.details) == ("UNKNOWN", "channel closed")


def test_every_error_is_an_ocr_client_error() -> None:
    for cls in (InvalidArgument, NotFound, ResourceExhausted, Unavailable, DeadlineExceeded,
                Cancelled, FailedPrecondition, Unimplemented, ServerError):
        assert issubclass(cls, OcrClientError)


def test_rich_details_are_read_from_the_trailing_metadata() -> None:
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rich_status(code, "slot 'rec' queue full")
    error = from_rpc_error(StatusError(code, status.message, (
        ("grpc-status-details-bin", status.SerializeToString()), ("x-request-id", "abc123"))))
    assert isinstance(error, ResourceExhausted)
    assert (error.reason, error.retry_delay, error.request_id) == ("QUEUE_FULL", 1.5, "abc123")
    assert error.metadata == {"limit": "1024", "value": "1030"}
    assert [(v.field, v.description) for v in error.field_violations] == [("images", "too many")]
    assert str(error) == "RESOURCE_EXHAUSTED [QUEUE_FULL]: slot 'rec' queue full"


def test_request_id_comes_from_metadata_when_the_status_has_none() -> None:
    error = from_rpc_error(StatusError(grpc.StatusCode.INVALID_ARGUMENT, "bad",
                                       (("x-request-id", "r-1"),)))
    assert (error.request_id, error.reason, error.retry_delay) == ("r-1", "", None)


def test_garbled_or_mismatched_details_keep_the_plain_status() -> None:
    garbled = from_rpc_error(StatusError(grpc.StatusCode.UNAVAILABLE, "down",
                                         (("grpc-status-details-bin", b"\xff\x00garbage"),)))
    assert isinstance(garbled, Unavailable) and garbled.details == "down"
    other = rich_status(grpc.StatusCode.INTERNAL, "x").SerializeToString()
    mismatched = from_rpc_error(StatusError(grpc.StatusCode.UNAVAILABLE, "down",
                                            (("grpc-status-details-bin", other),)))
    assert isinstance(mismatched, Unavailable) and mismatched.reason == ""
