"""Result types: frozen dataclasses built from the protobuf responses.

Callers never see protobuf messages.  Coordinates are pixels of the image as
sent, origin top-left (see ``ocr.proto``).  A point is an ``(x, y)`` tuple and
a box is a tuple of points: four for quads, more for polygons.

The proto's ``float`` fields are float32; they are rounded to 7 significant
digits (their real precision) so that a score of 0.98 reads 0.98, not
0.9800000190734863, in reprs and JSON.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from grpc_health.v1 import health_pb2

from ocrclient._proto.ocr.v1 import models_pb2, ocr_pb2

Point = tuple[float, float]
Box = tuple[Point, ...]


@dataclass(frozen=True)
class StageTimings:
    """Server-side milliseconds spent on one image (batched stages: its share)."""

    decode_ms: float
    det_ms: float
    cls_ms: float
    rec_ms: float
    total_ms: float


@dataclass(frozen=True)
class ModelRef:
    """Which model served a stage: ``stage`` is "det", "cls" or "rec"."""

    stage: str
    slot: str
    name: str
    version: int


@dataclass(frozen=True)
class TextLine:
    """One recognised line.  ``angle`` is 0 or 180 (0 when classification was off)."""

    text: str
    score: float
    box: Box
    angle: int = 0
    angle_score: float = 0.0
    box_score: float = 0.0


@dataclass(frozen=True)
class OcrResult:
    """Full-pipeline result for one image; ``lines`` are in reading order."""

    id: str
    width: int
    height: int
    lines: tuple[TextLine, ...]
    timings: StageTimings | None = None
    models: tuple[ModelRef, ...] = ()


@dataclass(frozen=True)
class TextBox:
    """A detected box and its detection score."""

    box: Box
    score: float


@dataclass(frozen=True)
class DetectResult:
    """Detection result for one image; ``boxes`` are in reading order."""

    id: str
    width: int
    height: int
    boxes: tuple[TextBox, ...]
    timings: StageTimings | None = None
    models: tuple[ModelRef, ...] = ()


@dataclass(frozen=True)
class Classification:
    """Orientation of one cropped line: ``angle`` 0 or 180."""

    id: str
    angle: int
    score: float
    models: tuple[ModelRef, ...] = ()


@dataclass(frozen=True)
class Recognition:
    """Text of one cropped line."""

    id: str
    text: str
    score: float
    models: tuple[ModelRef, ...] = ()


@dataclass(frozen=True)
class InstalledVersion:
    version: int
    format: str
    source: str


@dataclass(frozen=True)
class CatalogModel:
    """A model the server knows of; ``kind`` is "det", "cls", "rec" or ""."""

    name: str
    kind: str
    language: str
    slim: bool
    size: str
    inference_url: str
    installed: tuple[InstalledVersion, ...]


@dataclass(frozen=True)
class SlotStatus:
    """What a slot serves; ``state`` is e.g. "READY" (the enum name without prefix)."""

    slot: str
    kind: str
    model: str
    version: int
    backend: str
    device: str
    state: str
    message: str
    batches: int = 0
    batched_items: int = 0
    queued: int = 0


# ------------------------------------------------------------ from protobuf


def _f32(value: float) -> float:
    return float(f"{value:.7g}")


def _box(points: Iterable[ocr_pb2.Point]) -> Box:
    return tuple((_f32(p.x), _f32(p.y)) for p in points)


def _enum_suffix(full_name: str, prefix: str) -> str:
    """``MODEL_KIND_DET`` -> ``det`` style names; the UNSPECIFIED value becomes ""."""
    name = full_name.removeprefix(prefix)
    return "" if name == "UNSPECIFIED" else name


def timings_from_proto(msg: ocr_pb2.StageTimings) -> StageTimings:
    return StageTimings(msg.decode_ms, msg.det_ms, msg.cls_ms, msg.rec_ms, msg.total_ms)


def models_from_proto(msgs: Iterable[ocr_pb2.ModelRef]) -> tuple[ModelRef, ...]:
    return tuple(ModelRef(m.stage, m.slot, m.name, m.version) for m in msgs)


def _timings(result: ocr_pb2.OcrResult | ocr_pb2.DetectResult) -> StageTimings | None:
    return timings_from_proto(result.timings) if result.HasField("timings") else None


def text_line_from_proto(msg: ocr_pb2.TextLine) -> TextLine:
    return TextLine(
        text=msg.text,
        score=_f32(msg.score),
        box=_box(msg.box),
        angle=msg.angle,
        angle_score=_f32(msg.angle_score),
        box_score=_f32(msg.box_score),
    )


def ocr_result_from_proto(msg: ocr_pb2.OcrResult, models: tuple[ModelRef, ...] = ()) -> OcrResult:
    lines = tuple(text_line_from_proto(line) for line in msg.lines)
    return OcrResult(msg.id, msg.width, msg.height, lines, _timings(msg), models)


def detect_result_from_proto(
    msg: ocr_pb2.DetectResult, models: tuple[ModelRef, ...] = ()
) -> DetectResult:
    boxes = tuple(TextBox(_box(b.points), _f32(b.score)) for b in msg.boxes)
    return DetectResult(msg.id, msg.width, msg.height, boxes, _timings(msg), models)


def classification_from_proto(
    msg: ocr_pb2.Classification, models: tuple[ModelRef, ...] = ()
) -> Classification:
    return Classification(msg.id, msg.angle, _f32(msg.score), models)


def recognition_from_proto(
    msg: ocr_pb2.Recognition, models: tuple[ModelRef, ...] = ()
) -> Recognition:
    return Recognition(msg.id, msg.text, _f32(msg.score), models)


def catalog_model_from_proto(msg: models_pb2.CatalogModel) -> CatalogModel:
    installed = tuple(InstalledVersion(v.version, v.format, v.source) for v in msg.installed)
    kind = _enum_suffix(models_pb2.ModelKind.Name(msg.kind), "MODEL_KIND_").lower()
    return CatalogModel(
        msg.name, kind, msg.language, msg.slim, msg.size, msg.inference_url, installed
    )


def slot_status_from_proto(msg: models_pb2.SlotStatus) -> SlotStatus:
    return SlotStatus(
        slot=msg.slot,
        kind=_enum_suffix(models_pb2.ModelKind.Name(msg.kind), "MODEL_KIND_").lower(),
        model=msg.model,
        version=msg.version,
        backend=msg.backend,
        device=msg.device,
        state=_enum_suffix(models_pb2.SlotState.Name(msg.state), "SLOT_STATE_"),
        message=msg.message,
        batches=msg.batches,
        batched_items=msg.batched_items,
        queued=msg.queued,
    )


def health_status_name(status: int) -> str:
    """``SERVING``, ``NOT_SERVING``, ``SERVICE_UNKNOWN`` or ``UNKNOWN``."""
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(status))
