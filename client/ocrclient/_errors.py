"""The client's exception tree; gRPC errors are translated once, here.

    OcrClientError            any status not listed below (code kept in .code)
    ├── InvalidArgument       INVALID_ARGUMENT    bad image or parameter, over a size limit
    ├── NotFound              NOT_FOUND           unknown slot or language
    ├── ResourceExhausted     RESOURCE_EXHAUSTED  server queue full (retried), message too large
    ├── Unavailable           UNAVAILABLE         unreachable, restarting, draining (retried)
    ├── DeadlineExceeded      DEADLINE_EXCEEDED   the call's timeout passed
    ├── Cancelled             CANCELLED
    ├── FailedPrecondition    FAILED_PRECONDITION
    ├── Unimplemented         UNIMPLEMENTED       RPC not served by this server
    └── ServerError           INTERNAL, UNKNOWN, DATA_LOSS: the server failed

Every error has ``.code`` (the gRPC status name, e.g. ``"NOT_FOUND"``) and
``.details`` (the server's message), and, from the ``google.rpc.Status``
details the server attaches: ``.reason`` (an ``ocr.v1.ErrorReason`` name such
as ``"IMAGE_TOO_LARGE"``, "" when the server sent none), ``.metadata`` (e.g.
``{"limit": "50000000", "value": "400000000"}``), ``.field_violations`` (the
request fields at fault), ``.retry_delay`` (seconds, for transient conditions;
None otherwise) and ``.request_id``.  An error of one image in a multi-image
call also has ``.image_index``.

Callers catch these, never ``grpc.RpcError``: :func:`from_rpc_error` is called
at the one place each client makes calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2

STATUS_DETAILS_KEY = "grpc-status-details-bin"
REQUEST_ID_KEY = "x-request-id"
_CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}


@dataclass(frozen=True)
class FieldViolation:
    """A request field the server refused: e.g. ``images[3].encoded``."""

    field: str
    description: str


class OcrClientError(Exception):
    """Base of every error the client raises for a failed call or image."""

    code: str = "UNKNOWN"

    def __init__(self, details: str, code: str | None = None, *, reason: str = "",
                 metadata: Mapping[str, str] | None = None,
                 field_violations: Iterable[FieldViolation] = (),
                 retry_delay: float | None = None, request_id: str | None = None,
                 image_index: int | None = None) -> None:
        super().__init__(details)
        self.details = details
        if code is not None:
            self.code = code
        self.reason = reason
        self.metadata = dict(metadata or {})
        self.field_violations = tuple(field_violations)
        self.retry_delay = retry_delay
        self.request_id = request_id
        self.image_index = image_index

    def __str__(self) -> str:
        reason = f" [{self.reason}]" if self.reason else ""
        return f"{self.code}{reason}: {self.details}"


class InvalidArgument(OcrClientError):
    code = "INVALID_ARGUMENT"


class NotFound(OcrClientError):
    code = "NOT_FOUND"


class ResourceExhausted(OcrClientError):
    code = "RESOURCE_EXHAUSTED"


class Unavailable(OcrClientError):
    code = "UNAVAILABLE"


class DeadlineExceeded(OcrClientError):
    code = "DEADLINE_EXCEEDED"


class Cancelled(OcrClientError):
    code = "CANCELLED"


class FailedPrecondition(OcrClientError):
    code = "FAILED_PRECONDITION"


class Unimplemented(OcrClientError):
    code = "UNIMPLEMENTED"


class Unauthenticated(OcrClientError):
    """The server asks for a bearer token (the clients' ``token``) and got none it knows."""

    code = "UNAUTHENTICATED"


class PermissionDenied(OcrClientError):
    """The token sent does not grant this call (the inference token on the admin API)."""

    code = "PERMISSION_DENIED"


class ServerError(OcrClientError):
    code = "INTERNAL"


_BY_CODE: dict[str, type[OcrClientError]] = {
    cls.code: cls
    for cls in (InvalidArgument, NotFound, ResourceExhausted, Unavailable, DeadlineExceeded,
                Cancelled, FailedPrecondition, Unimplemented, Unauthenticated, PermissionDenied,
                ServerError)
}
_BY_CODE |= {"UNKNOWN": ServerError, "DATA_LOSS": ServerError}


def error_for(code: str, details: str, **fields: Any) -> OcrClientError:
    """The exception for a status name; unlisted codes give the base class."""
    cls = _BY_CODE.get(code)
    return cls(details, code, **fields) if cls is not None else OcrClientError(details, code,
                                                                                **fields)


def from_status(status: status_pb2.Status, *, request_id: str | None = None,
                image_index: int | None = None) -> OcrClientError:
    """The exception for a ``google.rpc.Status`` (an RPC's, or one image's ``error``)."""
    fields: dict[str, Any] = {"request_id": request_id, "image_index": image_index}
    violations: list[FieldViolation] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            fields["reason"], fields["metadata"] = info.reason, dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations += [FieldViolation(v.field, v.description) for v in bad.field_violations]
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            fields["retry_delay"] = retry.retry_delay.ToMilliseconds() / 1000
        elif detail.Is(error_details_pb2.RequestInfo.DESCRIPTOR):
            request = error_details_pb2.RequestInfo()
            detail.Unpack(request)
            fields["request_id"] = request.request_id or request_id
    code = _CODE_NAMES.get(status.code, "UNKNOWN")
    return error_for(code, status.message or code, field_violations=violations, **fields)


def from_rpc_error(error: grpc.RpcError) -> OcrClientError:
    """Translate a failed call (sync or ``grpc.aio``) into the client's tree.

    ``grpc.RpcError`` itself declares no methods; the errors grpc raises are
    also ``grpc.Call`` objects with ``code()``, ``details()`` and
    ``trailing_metadata()``.  Rich details come from the trailing
    ``grpc-status-details-bin``; an error without them (a transport failure,
    or a server that sends none) keeps its code and text only.
    """
    code_fn = getattr(error, "code", None)
    details_fn = getattr(error, "details", None)
    status = code_fn() if callable(code_fn) else None
    code = status.name if isinstance(status, grpc.StatusCode) else "UNKNOWN"
    # an empty message falls back to the code, not to grpc's multi-line repr of the call
    details = (details_fn() if callable(details_fn) else str(error)) or code
    trailing = _trailing_metadata(error)
    request_id = _text(trailing.get(REQUEST_ID_KEY))
    rich = trailing.get(STATUS_DETAILS_KEY)
    if isinstance(rich, bytes):
        try:
            parsed = status_pb2.Status.FromString(rich)
        except Exception:  # a garbled trailer must not hide the status itself
            parsed = None
        if parsed is not None and _CODE_NAMES.get(parsed.code) == code:
            return from_status(parsed, request_id=request_id)
    return error_for(code, details, request_id=request_id)


def _trailing_metadata(error: grpc.RpcError) -> dict[str, str | bytes]:
    trailing_fn = getattr(error, "trailing_metadata", None)
    try:
        pairs = trailing_fn() if callable(trailing_fn) else None
    except Exception:  # some error objects raise when the call never started
        pairs = None
    return {key: value for key, value in pairs or ()}


def _text(value: str | bytes | None) -> str | None:
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return value
