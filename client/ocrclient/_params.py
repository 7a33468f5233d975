"""Inference parameters: declared once, as TypedDicts, and turned into protos.

The TypedDicts are the keyword arguments of the client methods (``**params:
Unpack[OcrParams]``), so type checkers see every name and type.  The same
declarations drive the proto building here and the CLI flags (``cli.py``), so
a parameter is added in one place: its TypedDict, plus a line in ``HELP``.

Names follow PaddleOCR's options; a key maps to the proto field of the same
name unless ``_RENAMED`` says otherwise.  Unset keys (or ``None``) leave the
proto field unset, which means "server default".
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, TypedDict, TypeVar

from google.protobuf.message import Message

from ocrclient.proto.ocr.v1 import ocr_pb2

M = TypeVar("M", bound=Message)


class DetectionParams(TypedDict, total=False):
    det_slot: str
    limit_side_len: int
    limit_type: Literal["max", "min", "resize_long"]
    thresh: float
    box_thresh: float
    unclip_ratio: float
    max_candidates: int
    score_mode: Literal["fast", "slow"]
    use_dilation: bool
    box_type: Literal["quad", "poly"]


class ClassificationParams(TypedDict, total=False):
    cls_slot: str
    cls_thresh: float


class RecognitionParams(TypedDict, total=False):
    language: str
    drop_score: float


class CallParams(TypedDict, total=False):
    """Request fields that are not model parameters."""

    priority: Literal["normal", "high"]


class DetectParams(DetectionParams, CallParams, total=False):
    return_timings: bool


class ClassifyParams(ClassificationParams, CallParams, total=False):
    pass


class RecognizeParams(CallParams, total=False):
    # Recognize returns every line's text: drop_score applies to Ocr only.
    language: str


class OcrParams(DetectionParams, ClassificationParams, RecognitionParams, CallParams,
                total=False):
    use_angle_cls: bool
    return_timings: bool


class StreamParams(OcrParams, total=False):
    """A stream's config: OCR parameters and pacing (see ``stream``)."""

    max_in_flight: int
    overload: Literal["latest", "block"]
    max_staleness_s: float
    dedup_threshold: float


class CallOptions(TypedDict, total=False):
    """How one call is made (not sent as request fields).

    ``timeout``: seconds for the whole call, retries included; left out, the
    client's default applies, and ``None`` means no limit for this call.
    ``metadata``: extra (key, value) pairs sent with the call.
    ``wait_for_ready``: wait for the server to become reachable instead of
    failing at once (within the timeout).
    ``request_id``: sent as ``x-request-id``; the server logs it and returns it
    on errors.  ``strict``: raise the first failed image's error instead of
    returning it in that image's result.
    """

    timeout: float | None
    metadata: Sequence[tuple[str, str]]
    wait_for_ready: bool
    request_id: str
    strict: bool


class OcrArgs(OcrParams, CallOptions, total=False):
    pass


class StreamArgs(StreamParams, CallOptions, total=False):
    pass


class DetectArgs(DetectParams, CallOptions, total=False):
    pass


class ClassifyArgs(ClassifyParams, CallOptions, total=False):
    pass


class RecognizeArgs(RecognizeParams, CallOptions, total=False):
    pass


HELP: dict[str, str] = {
    "det_slot": "detection slot (default: det)",
    "limit_side_len": "detector input side limit in pixels (default: 960)",
    "limit_type": "how limit_side_len applies (default: max)",
    "thresh": "DB pixel binarisation threshold (default: 0.3)",
    "box_thresh": "minimum detection box score (default: 0.6)",
    "unclip_ratio": "DB box expansion ratio (default: 1.5)",
    "max_candidates": "maximum boxes considered per image (default: 1000)",
    "score_mode": "box score over the bounding rectangle (fast) or the polygon (slow)",
    "use_dilation": "dilate the DB probability map before finding boxes",
    "box_type": "quadrilateral boxes or polygons for curved text (default: quad)",
    "cls_slot": "angle classifier slot (default: cls)",
    "cls_thresh": "rotate a line when the classifier says 180 with a score above this "
                  "(default: 0.9)",
    "language": "recognizer slot or language, e.g. rec, rec:french or french (default: rec)",
    "drop_score": "drop lines recognised with a score below this (default: 0.5)",
    "use_angle_cls": "run the angle classifier (default: when the server has one)",
    "return_timings": "return server-side per-stage timings",
    "priority": "high-priority work is batched first when the server is busy (default: normal)",
    "max_in_flight": "frames the server processes at once for this stream (default: 2)",
    "overload": "when frames come faster than they are processed: latest drops the older "
                "waiting frame, block slows the sender down (default: latest)",
    "max_staleness_s": "latest: drop a frame that waited longer than this, seconds "
                       "(default: 0, no limit)",
    "dedup_threshold": "reuse the last processed frame's lines for a frame that differs from "
                       "it by less than this, 0-1 (default: 0, off; try 0.05)",
}

_RENAMED = {"det_slot": "slot", "cls_slot": "slot", "cls_thresh": "thresh", "language": "slot"}


def param_names(params: type) -> frozenset[str]:
    """The keys of one of the parameter TypedDicts above, inherited ones included."""
    names: frozenset[str] = params.__optional_keys__  # type: ignore[attr-defined]
    return names


def split_options(kwargs: Mapping[str, Any], allowed: type
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """A method's keyword arguments as (request parameters, CallOptions); TypeError for a
    name the method does not take (a typo)."""
    check_names(kwargs, allowed)
    options = param_names(CallOptions)
    return ({k: v for k, v in kwargs.items() if k not in options},
            {k: v for k, v in kwargs.items() if k in options})


def check_names(params: Mapping[str, object], allowed: type) -> None:
    """Raise TypeError for a keyword that the method does not take (a typo)."""
    names = param_names(allowed)
    unknown = sorted(set(params) - names)
    if unknown:
        raise TypeError(f"unexpected parameter(s) {', '.join(unknown)}; "
                        f"expected some of {', '.join(sorted(names))}")


def detection_params(params: Mapping[str, Any]) -> ocr_pb2.DetectionParams:
    return _fill(ocr_pb2.DetectionParams(), params, param_names(DetectionParams))


def classification_params(params: Mapping[str, Any]) -> ocr_pb2.ClassificationParams:
    return _fill(ocr_pb2.ClassificationParams(), params, param_names(ClassificationParams))


def recognition_params(params: Mapping[str, Any]) -> ocr_pb2.RecognitionParams:
    return _fill(ocr_pb2.RecognitionParams(), params, param_names(RecognitionParams))


def priority(params: Mapping[str, Any]) -> str:
    """The request's Priority as its enum name (UNSPECIFIED, the server's default, when unset)."""
    value = params.get("priority")
    if value is None:
        return "PRIORITY_UNSPECIFIED"
    number = enum_number(ocr_pb2.Priority.DESCRIPTOR, "priority", value)
    return str(ocr_pb2.Priority.Name(number))


def enum_choices(enum: Any) -> list[str]:
    """The lower-case names a string parameter may take: ``["max", "min", ...]``.

    ``enum`` is a protobuf EnumDescriptor (C or Python implementation).
    """
    prefix = _enum_prefix(enum)
    return [v.name.removeprefix(prefix).lower() for v in enum.values if v.number != 0]


def _fill(msg: M, params: Mapping[str, Any], names: Iterable[str]) -> M:
    for name in names:
        value = params.get(name)
        if value is None:
            continue
        field = msg.DESCRIPTOR.fields_by_name[_RENAMED.get(name, name)]
        if field.enum_type is not None:
            value = enum_number(field.enum_type, name, value)
        try:
            setattr(msg, field.name, value)
        except (TypeError, ValueError) as exc:  # protobuf's range and type checks
            raise ValueError(f"{name}: {exc} ({value!r})") from None
    return msg


def enum_number(enum: Any, name: str, value: object) -> int:
    choices = enum_choices(enum)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return int(enum.values_by_name[_enum_prefix(enum) + str(value).upper()].number)


def _enum_prefix(enum: Any) -> str:
    # proto3 style: value 0 is PREFIX_UNSPECIFIED, every value shares PREFIX_.
    return str(enum.values_by_number[0].name).removesuffix("UNSPECIFIED")
