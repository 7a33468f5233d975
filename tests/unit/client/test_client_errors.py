"""grpc.RpcError -> the client's exception tree."""

from __future__ import annotations

import grpc
import pytest

from ocrclient import (
    Cancelled,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    OcrClientError,
    ResourceExhausted,
    ServerError,
    Unavailable,
    Unimplemented,
)
from ocrclient._errors import from_rpc_error


class StatusError(grpc.RpcError):
    """What grpc raises for a failed call: an RpcError with code() and details()."""

    def __init__(self, code: grpc.StatusCode, details: str | None) -> None:
        super().__init__()
        self._code = code
        self._details = details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str | None:
        return self._details


@pytest.mark.parametrize(("status", "cls"), [
    (grpc.StatusCode.INVALID_ARGUMENT, InvalidArgument),
    (grpc.StatusCode.NOT_FOUND, NotFound),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, ResourceExhausted),
    (grpc.StatusCode.UNAVAILABLE, Unavailable),
    (grpc.StatusCode.DEADLINE_EXCEEDED, DeadlineExceeded),
    (grpc.StatusCode.CANCELLED, Cancelled),
    (grpc.StatusCode.FAILED_PRECONDITION, FailedPrecondition),
    (grpc.StatusCode.UNIMPLEMENTED, Unimplemented),
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
    error = from_rpc_error(StatusError(grpc.StatusCode.PERMISSION_DENIED, "no"))
    assert type(error) is OcrClientError
    assert error.code == "PERMISSION_DENIED"


def test_missing_details_fall_back_to_the_code() -> None:
    error = from_rpc_error(StatusError(grpc.StatusCode.UNAVAILABLE, None))
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
