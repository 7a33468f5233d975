"""The client's exception tree; gRPC errors are translated once, here.

    OcrClientError            any status not listed below (code kept in .code)
    ├── InvalidArgument       INVALID_ARGUMENT    bad image or parameter
    ├── NotFound              NOT_FOUND           unknown slot, model or version
    ├── ResourceExhausted     RESOURCE_EXHAUSTED  too large, server queue full
    ├── Unavailable           UNAVAILABLE         server down or draining (retried)
    ├── DeadlineExceeded      DEADLINE_EXCEEDED   the call's timeout passed
    ├── Cancelled             CANCELLED
    ├── FailedPrecondition    FAILED_PRECONDITION slot not ready
    ├── Unimplemented         UNIMPLEMENTED       RPC not served by this release
    └── ServerError           INTERNAL, UNKNOWN, DATA_LOSS: the server failed

Every error has ``.code`` (the gRPC status name, e.g. ``"NOT_FOUND"``) and
``.details`` (the server's message).  Callers catch these, never
``grpc.RpcError``: :func:`from_rpc_error` is called at the one place each
client makes calls.
"""

from __future__ import annotations

import grpc


class OcrClientError(Exception):
    """Base of every error the client raises for a failed call."""

    code: str = "UNKNOWN"

    def __init__(self, details: str, code: str | None = None) -> None:
        super().__init__(details)
        self.details = details
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.details}"


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


class ServerError(OcrClientError):
    code = "INTERNAL"


_BY_CODE: dict[str, type[OcrClientError]] = {
    cls.code: cls
    for cls in (InvalidArgument, NotFound, ResourceExhausted, Unavailable, DeadlineExceeded,
                Cancelled, FailedPrecondition, Unimplemented, ServerError)
}
_BY_CODE |= {"UNKNOWN": ServerError, "DATA_LOSS": ServerError}


def error_for(code: str, details: str) -> OcrClientError:
    """The exception for a status name; unlisted codes give the base class."""
    cls = _BY_CODE.get(code)
    return cls(details, code) if cls is not None else OcrClientError(details, code)


def from_rpc_error(error: grpc.RpcError) -> OcrClientError:
    """Translate a failed call (sync or ``grpc.aio``) into the client's tree.

    ``grpc.RpcError`` itself declares no methods; the errors grpc raises are
    also ``grpc.Call`` objects with ``code()`` and ``details()``.  One without
    them is reported as UNKNOWN with its text.
    """
    code_fn = getattr(error, "code", None)
    details_fn = getattr(error, "details", None)
    status = code_fn() if callable(code_fn) else None
    code = status.name if isinstance(status, grpc.StatusCode) else "UNKNOWN"
    details = details_fn() if callable(details_fn) else None
    return error_for(code, details or str(error) or code)
