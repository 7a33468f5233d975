"""The one exception tree of the server.

Everything raised on purpose inside ``ocrserve`` derives from :class:`OcrError`.
Each subclass names the gRPC status it maps to; the mapping happens once, at the
edge (``frontend/errors.py``), so inner code never imports grpc to fail.

    OcrError
    ├── InvalidInput         INVALID_ARGUMENT    undecodable image, bad parameter
    ├── NotFound             NOT_FOUND           unknown slot, model or version
    ├── ResourceExhausted    RESOURCE_EXHAUSTED  too large, queue full
    ├── Unavailable          UNAVAILABLE         engine down, draining
    ├── DeadlineExceeded     DEADLINE_EXCEEDED   deadline passed while queued
    ├── Cancelled            CANCELLED           caller went away while queued
    ├── FailedPrecondition   FAILED_PRECONDITION slot not ready
    ├── Unimplemented        UNIMPLEMENTED       defined in the API, not served yet
    └── ModelError           INTERNAL            model files broken, load failed, bad outputs
        └── ChecksumMismatch
"""

from __future__ import annotations


class OcrError(Exception):
    """Base of all deliberate errors.  ``status`` is a grpc.StatusCode name."""

    status: str = "INTERNAL"


class InvalidInput(OcrError):
    status = "INVALID_ARGUMENT"


class NotFound(OcrError):
    status = "NOT_FOUND"


class ResourceExhausted(OcrError):
    status = "RESOURCE_EXHAUSTED"


class Unavailable(OcrError):
    status = "UNAVAILABLE"


class DeadlineExceeded(OcrError):
    status = "DEADLINE_EXCEEDED"


class Cancelled(OcrError):
    status = "CANCELLED"


class FailedPrecondition(OcrError):
    status = "FAILED_PRECONDITION"


class Unimplemented(OcrError):
    status = "UNIMPLEMENTED"


class ModelError(OcrError):
    status = "INTERNAL"


class ChecksumMismatch(ModelError):
    pass


def error_from_status(status: str, message: str) -> OcrError:
    """Rebuild an error that crossed a process boundary as (status, message)."""
    for cls in (InvalidInput, NotFound, ResourceExhausted, Unavailable, DeadlineExceeded,
                Cancelled, FailedPrecondition, Unimplemented):
        if cls.status == status:
            return cls(message)
    return ModelError(message)
