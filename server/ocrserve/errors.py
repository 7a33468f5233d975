"""The one exception tree of the server.

Everything raised on purpose inside ``ocrserve`` derives from :class:`OcrError`.
Each class names the gRPC status it maps to and its default ``reason`` (a name
of the ``ocr.v1.ErrorReason`` enum); the mapping to gRPC happens once, at the
edge (``frontend/errors.py``), so inner code never imports grpc to fail.

    OcrError                 INTERNAL            INTERNAL_ERROR
    ├── InvalidInput         INVALID_ARGUMENT    PARAMETER_INVALID (and the image reasons)
    ├── NotFound             NOT_FOUND           SLOT_NOT_FOUND, MODEL_NOT_FOUND
    ├── ResourceExhausted    RESOURCE_EXHAUSTED  QUEUE_FULL                 (transient)
    ├── Unavailable          UNAVAILABLE         ENGINE_UNAVAILABLE, SERVER_DRAINING (transient)
    ├── DeadlineExceeded     DEADLINE_EXCEEDED   DEADLINE_EXCEEDED
    ├── FailedPrecondition   FAILED_PRECONDITION MODEL_LOAD_FAILED, SLOT_BUSY, SLOT_EXISTS,
    │                                            MODEL_VERSION_MISMATCH (a runtime used after close)
    ├── Unauthenticated      UNAUTHENTICATED     ADMIN_TOKEN_REQUIRED, INFERENCE_TOKEN_REQUIRED
    ├── PermissionDenied     PERMISSION_DENIED   ADMIN_TOKEN_REQUIRED (token of too narrow scope)
    └── ModelError           INTERNAL            INFERENCE_FAILED
        └── ChecksumMismatch

An error carries what a program needs to act on it: ``reason``, ``metadata``
(the limit, the value, ...), the request ``field`` at fault, and for
transient conditions ``retry_after_s``.  Its text (``str(error)``) is what the
caller reads, so it names the problem in the API's terms; library internals
go to the log, chained as ``__cause__``.  INTERNAL errors are the exception:
their text is for the log only and the caller gets :attr:`OcrError.public_message`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class Reason(StrEnum):
    """``ocr.v1.ErrorReason`` names (a unit test keeps the two in step)."""

    NO_IMAGES = "NO_IMAGES"
    TOO_MANY_IMAGES = "TOO_MANY_IMAGES"
    PARAMETER_OUT_OF_RANGE = "PARAMETER_OUT_OF_RANGE"
    PARAMETER_INVALID = "PARAMETER_INVALID"
    IMAGE_EMPTY = "IMAGE_EMPTY"
    IMAGE_UNDECODABLE = "IMAGE_UNDECODABLE"
    IMAGE_TOO_LARGE = "IMAGE_TOO_LARGE"
    IMAGE_SIZE_MISMATCH = "IMAGE_SIZE_MISMATCH"
    DETECTOR_INPUT_TOO_LARGE = "DETECTOR_INPUT_TOO_LARGE"
    REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
    SERVER_OVERLOADED = "SERVER_OVERLOADED"
    SLOT_NOT_FOUND = "SLOT_NOT_FOUND"
    MODEL_NOT_FOUND = "MODEL_NOT_FOUND"
    QUEUE_FULL = "QUEUE_FULL"
    ENGINE_UNAVAILABLE = "ENGINE_UNAVAILABLE"
    SERVER_DRAINING = "SERVER_DRAINING"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    INFERENCE_FAILED = "INFERENCE_FAILED"
    MODEL_LOAD_FAILED = "MODEL_LOAD_FAILED"
    SLOT_BUSY = "SLOT_BUSY"
    MEMORY_BUDGET = "MEMORY_BUDGET"
    SLOT_EXISTS = "SLOT_EXISTS"
    MODEL_VERSION_MISMATCH = "MODEL_VERSION_MISMATCH"
    ADMIN_TOKEN_REQUIRED = "ADMIN_TOKEN_REQUIRED"
    URL_NOT_ALLOWED = "URL_NOT_ALLOWED"
    INFERENCE_TOKEN_REQUIRED = "INFERENCE_TOKEN_REQUIRED"
    INTERNAL_ERROR = "INTERNAL_ERROR"


#: How long a client should wait before retrying a transient failure.  An
#: engine restart takes about a second on a 2-core machine; a full queue
#: usually drains within a few batches.
RETRY_AFTER_S = 1.0


class OcrError(Exception):
    """Base of all deliberate errors.  ``status`` is a grpc.StatusCode name."""

    status: str = "INTERNAL"
    reason: Reason = Reason.INTERNAL_ERROR
    #: Seconds after which a retry may succeed; None: retrying will not help.
    retry_after_s: float | None = None

    def __init__(self, message: str, *, reason: Reason | None = None,
                 field: str | None = None, metadata: Mapping[str, object] | None = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        if retry_after_s is not None:
            self.retry_after_s = retry_after_s
        self.field = field
        self.metadata = {key: str(value) for key, value in (metadata or {}).items()}

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    @property
    def public_message(self) -> str:
        """What the caller may read: the message, except for INTERNAL errors."""
        if self.status == "INTERNAL":
            return "internal error; the server log has the cause under this request's id"
        return self.message

    @property
    def transient(self) -> bool:
        return self.retry_after_s is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form, to cross a process boundary (see :func:`error_from_dict`)."""
        return {"status": self.status, "reason": str(self.reason), "message": self.message,
                "field": self.field, "metadata": self.metadata,
                "retry_after_s": self.retry_after_s}


class InvalidInput(OcrError):
    status = "INVALID_ARGUMENT"
    reason = Reason.PARAMETER_INVALID


class NotFound(OcrError):
    status = "NOT_FOUND"
    reason = Reason.SLOT_NOT_FOUND


class ResourceExhausted(OcrError):
    status = "RESOURCE_EXHAUSTED"
    reason = Reason.QUEUE_FULL
    retry_after_s = RETRY_AFTER_S


class Unavailable(OcrError):
    status = "UNAVAILABLE"
    reason = Reason.ENGINE_UNAVAILABLE
    retry_after_s = RETRY_AFTER_S


class DeadlineExceeded(OcrError):
    status = "DEADLINE_EXCEEDED"
    reason = Reason.DEADLINE_EXCEEDED


class FailedPrecondition(OcrError):
    status = "FAILED_PRECONDITION"
    reason = Reason.INTERNAL_ERROR


class Unauthenticated(OcrError):
    status = "UNAUTHENTICATED"
    reason = Reason.ADMIN_TOKEN_REQUIRED


class PermissionDenied(OcrError):
    """A known caller asking for what its token does not grant (the inference token on
    the ModelService): unlike UNAUTHENTICATED, sending the same token again cannot help."""

    status = "PERMISSION_DENIED"
    reason = Reason.ADMIN_TOKEN_REQUIRED


class ModelError(OcrError):
    status = "INTERNAL"
    reason = Reason.INFERENCE_FAILED


class ChecksumMismatch(ModelError):
    pass


_BY_STATUS: dict[str, type[OcrError]] = {
    cls.status: cls for cls in (InvalidInput, NotFound, ResourceExhausted, Unavailable,
                                DeadlineExceeded, FailedPrecondition, Unauthenticated,
                                PermissionDenied)
}


def error_from_dict(data: Mapping[str, Any]) -> OcrError:
    """Rebuild an error that crossed a process boundary as :meth:`OcrError.to_dict`."""
    cls = _BY_STATUS.get(str(data.get("status")), ModelError)
    try:
        reason: Reason | None = Reason(str(data.get("reason")))
    except ValueError:
        reason = None
    retry = data.get("retry_after_s")
    metadata = data.get("metadata")
    field = data.get("field")
    return cls(str(data.get("message", "")), reason=reason,
               field=None if field is None else str(field),
               metadata=metadata if isinstance(metadata, Mapping) else None,
               retry_after_s=None if retry is None else float(retry))
