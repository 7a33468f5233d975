"""Python client for the ocrserve gRPC OCR server.

    from ocrclient import OcrClient

    with OcrClient("127.0.0.1:50051") as client:
        result = client.ocr_one("page.png", language="french")
        for line in result.lines:
            print(f"{line.score:.3f}  {line.text}")

:class:`AsyncOcrClient` has the same methods as coroutines.  Errors are the
:class:`OcrClientError` tree (see ``_errors.py``); results are frozen
dataclasses (see ``_types.py``).  The generated protobuf modules are public
too, for callers that want the raw messages: ``ocrclient.proto.ocr.v1``.
"""

from ocrclient._errors import (
    Cancelled,
    DeadlineExceeded,
    FailedPrecondition,
    FieldViolation,
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
from ocrclient._images import ChannelOrder, ImageLike, to_image
from ocrclient._params import (
    CallOptions,
    CallParams,
    ClassificationParams,
    ClassifyParams,
    DetectionParams,
    DetectParams,
    OcrParams,
    RecognitionParams,
    RecognizeParams,
    StreamParams,
)
from ocrclient._retry import RetryPolicy
from ocrclient._types import (
    Box,
    CatalogModel,
    Classification,
    DetectResult,
    Frame,
    FrameResult,
    FrameStatus,
    InstalledVersion,
    Limits,
    ModelRef,
    OcrResult,
    Point,
    Recognition,
    ResponseCacheStats,
    ServedSlot,
    ServerInfo,
    SlotStatus,
    StageTimings,
    StreamStats,
    TextBox,
    TextLine,
)
from ocrclient.aio import AsyncOcrClient
from ocrclient.client import OcrClient

__version__ = "0.2.0"

__all__ = [
    "AsyncOcrClient",
    "Box",
    "CallOptions",
    "CallParams",
    "Cancelled",
    "CatalogModel",
    "ChannelOrder",
    "Classification",
    "ClassificationParams",
    "ClassifyParams",
    "DeadlineExceeded",
    "DetectParams",
    "DetectResult",
    "DetectionParams",
    "FailedPrecondition",
    "FieldViolation",
    "Frame",
    "FrameResult",
    "FrameStatus",
    "ImageLike",
    "InstalledVersion",
    "InvalidArgument",
    "Limits",
    "ModelRef",
    "NotFound",
    "OcrClient",
    "OcrClientError",
    "OcrParams",
    "OcrResult",
    "PermissionDenied",
    "Point",
    "Recognition",
    "RecognitionParams",
    "RecognizeParams",
    "ResourceExhausted",
    "ResponseCacheStats",
    "RetryPolicy",
    "ServedSlot",
    "ServerError",
    "ServerInfo",
    "SlotStatus",
    "StageTimings",
    "StreamParams",
    "StreamStats",
    "TextBox",
    "TextLine",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "__version__",
    "to_image",
]
