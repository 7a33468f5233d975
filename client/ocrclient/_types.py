"""Result types: frozen dataclasses built from the protobuf responses.

Callers never see protobuf messages.  Coordinates are pixels of the image as
sent, origin top-left (see ``ocr.proto``).  A point is an ``(x, y)`` tuple and
a box is a tuple of points: four for quads, more for polygons.

The proto's ``float`` fields are float32; they are rounded to 7 significant
digits (their real precision) so that a score of 0.98 reads 0.98, not
0.9800000190734863, in reprs and JSON.

A result whose image failed (undecodable, over a limit, failed in the model)
has ``error`` set to the exception for it and its other fields empty; the
other results of the call are unaffected.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, cast

from grpc_health.v1 import health_pb2

from ocrclient._errors import OcrClientError, from_status
from ocrclient.proto.ocr.v1 import models_pb2, ocr_pb2

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
    cached: bool = False  # answered from the response cache (total_ms: the lookup)


@dataclass(frozen=True)
class ModelRef:
    """Which model served a stage: ``stage`` is "det", "cls" or "rec"."""

    stage: str
    slot: str
    name: str
    version: int


@dataclass(frozen=True)
class TextLine:
    """One recognised line.  ``angle`` is the classifier's label, 0 or 180 (0 when
    classification was off); ``rotated`` says whether the crop was turned by 180°
    before recognition (label 180 with ``angle_score`` above ``cls_thresh``)."""

    text: str
    score: float
    box: Box
    angle: int = 0
    angle_score: float = 0.0
    box_score: float = 0.0
    rotated: bool = False


@dataclass(frozen=True)
class OcrResult:
    """Full-pipeline result for one image; ``lines`` are in reading order."""

    id: str
    width: int
    height: int
    lines: tuple[TextLine, ...]
    timings: StageTimings | None = None
    models: tuple[ModelRef, ...] = ()
    error: OcrClientError | None = None


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
    error: OcrClientError | None = None


@dataclass(frozen=True)
class Classification:
    """Orientation of one cropped line: the classifier's label ``angle`` (0 or 180), its
    ``score``, and whether the full pipeline would turn the line (``rotated``)."""

    id: str
    angle: int
    score: float
    rotated: bool = False
    models: tuple[ModelRef, ...] = ()
    error: OcrClientError | None = None


@dataclass(frozen=True)
class Recognition:
    """Text of one cropped line."""

    id: str
    text: str
    score: float
    models: tuple[ModelRef, ...] = ()
    error: OcrClientError | None = None


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
    dropped_deadline: int = 0
    dropped_cancelled: int = 0
    rejected_full: int = 0
    standby_model: str = ""  # during a swap: the model replacing the serving one
    standby_version: int = 0
    load_seconds: float = 0.0
    warm_seconds: float = 0.0
    last_used_unix: float = 0.0  # 0: never
    memory_bytes: int = 0  # what the engine grew when the model loaded; 0: not loaded
    model_bytes: int = 0  # the size of the model's files


@dataclass(frozen=True)
class PullProgress:
    """One step of ``AdminClient.pull_model``: ``phase`` is "DOWNLOADING", "INSTALLING"
    or "DONE" (then ``version``, ``format`` and ``sha256`` say what was installed)."""

    phase: str
    bytes_done: int
    bytes_total: int  # 0 when unknown
    sha256: str = ""
    version: int = 0
    format: str = ""


@dataclass(frozen=True)
class Limits:
    """What one request may ask for (``ServerInfo.limits``)."""

    max_message_bytes: int
    max_image_pixels: int
    max_images_per_request: int
    max_rec_width: int
    max_request_pixels: int = 0
    det_max_side_len: int = 0
    det_max_pixels: int = 0
    max_crops_per_image: int = 0
    stream_max_in_flight: int = 0


@dataclass(frozen=True)
class ServedSlot:
    """A slot as GetServerInfo describes it: the model it serves, and whether it is warm."""

    model: ModelRef
    language: str
    ready: bool


@dataclass(frozen=True)
class ResponseCacheStats:
    """The response cache of the front-end process that answered (off: ``enabled`` False)."""

    enabled: bool = False
    max_bytes: int = 0
    bytes: int = 0
    entries: int = 0
    hits: int = 0
    misses: int = 0
    evictions: int = 0


@dataclass(frozen=True)
class StreamStats:
    """The StreamOcr streams of the front-end process that answered."""

    active_streams: int = 0
    frames_in_server: int = 0  # being processed or waiting now
    processed: int = 0  # since the process started, by status
    dropped: int = 0
    deduped: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Frame:
    """A video frame to send with ``stream``: any image the other methods take, its
    id (default: its position in the stream, from 0) and the source's time in seconds
    (echoed, not interpreted)."""

    image: Any
    frame_id: int | None = None
    timestamp_s: float = 0.0


FrameStatus = Literal["processed", "dropped", "deduped", "failed"]


@dataclass(frozen=True)
class FrameResult:
    """The answer to one frame.  ``processed`` and ``deduped`` frames have their
    lines (a deduped frame repeats those of frame ``deduped_from``); a ``dropped``
    frame was not processed (``drop_reason``: superseded or stale); a ``failed``
    frame has its ``error``."""

    frame_id: int
    timestamp_s: float
    status: FrameStatus
    lines: tuple[TextLine, ...]
    latency_ms: float  # server-side, from receiving the frame to its answer
    models: tuple[ModelRef, ...] = ()
    width: int = 0
    height: int = 0
    timings: StageTimings | None = None
    deduped_from: int | None = None
    drop_reason: str = ""
    error: OcrClientError | None = None
    #: Processed frames: detected boxes whose angle and text were reused from an earlier
    #: frame (their crops were exactly the same), not recomputed.
    reused_crops: int = 0


@dataclass(frozen=True)
class ServerInfo:
    """Versions, limits, effective defaults and slots of a server.

    ``defaults`` maps each parameter name of the client (``box_thresh``,
    ``cls_thresh``, ``drop_score``, ``language``, ...) to the value the server
    uses when a call leaves it out.
    """

    server_version: str
    api_version: str
    limits: Limits
    defaults: dict[str, Any]
    slots: tuple[ServedSlot, ...]
    response_cache: ResponseCacheStats = ResponseCacheStats()
    streams: StreamStats = StreamStats()


AnyResult = OcrResult | DetectResult | Classification | Recognition


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
    return StageTimings(msg.decode_ms, msg.det_ms, msg.cls_ms, msg.rec_ms, msg.total_ms,
                        msg.cached)


def models_from_proto(msgs: Iterable[ocr_pb2.ModelRef]) -> tuple[ModelRef, ...]:
    return tuple(ModelRef(m.stage, m.slot, m.name, m.version) for m in msgs)


def _timings(result: ocr_pb2.OcrResult | ocr_pb2.DetectResult) -> StageTimings | None:
    return timings_from_proto(result.timings) if result.HasField("timings") else None


def _error(result: Any, index: int) -> OcrClientError | None:
    return from_status(result.error, image_index=index) if result.HasField("error") else None


def text_line_from_proto(msg: ocr_pb2.TextLine) -> TextLine:
    return TextLine(
        text=msg.text,
        score=_f32(msg.score),
        box=_box(msg.box),
        angle=msg.angle,
        angle_score=_f32(msg.angle_score),
        box_score=_f32(msg.box_score),
        rotated=msg.rotated,
    )


def ocr_result_from_proto(msg: ocr_pb2.OcrResult, index: int = 0) -> OcrResult:
    lines = tuple(text_line_from_proto(line) for line in msg.lines)
    return OcrResult(msg.id, msg.width, msg.height, lines, _timings(msg),
                     models_from_proto(msg.models), _error(msg, index))


def detect_result_from_proto(msg: ocr_pb2.DetectResult, index: int = 0) -> DetectResult:
    boxes = tuple(TextBox(_box(b.points), _f32(b.score)) for b in msg.boxes)
    return DetectResult(msg.id, msg.width, msg.height, boxes, _timings(msg),
                        models_from_proto(msg.models), _error(msg, index))


def classification_from_proto(msg: ocr_pb2.Classification, index: int = 0) -> Classification:
    return Classification(msg.id, msg.angle, _f32(msg.score), msg.rotated,
                          models_from_proto(msg.models), _error(msg, index))


def recognition_from_proto(msg: ocr_pb2.Recognition, index: int = 0) -> Recognition:
    return Recognition(msg.id, msg.text, _f32(msg.score), models_from_proto(msg.models),
                       _error(msg, index))


def server_info_from_proto(msg: ocr_pb2.ServerInfo) -> ServerInfo:
    given = msg.limits
    limits = Limits(given.max_message_bytes, given.max_image_pixels,
                    given.max_images_per_request, given.max_rec_width,
                    given.max_request_pixels, given.det_max_side_len, given.det_max_pixels,
                    given.max_crops_per_image, given.stream_max_in_flight)
    det, cls, rec = msg.defaults.detection, msg.defaults.classification, msg.defaults.recognition
    defaults: dict[str, Any] = {
        "det_slot": det.slot, "limit_side_len": det.limit_side_len,
        "limit_type": _enum_suffix(ocr_pb2.LimitType.Name(det.limit_type), "LIMIT_TYPE_").lower(),
        "thresh": _f32(det.thresh), "box_thresh": _f32(det.box_thresh),
        "unclip_ratio": _f32(det.unclip_ratio), "max_candidates": det.max_candidates,
        "score_mode": _enum_suffix(ocr_pb2.ScoreMode.Name(det.score_mode), "SCORE_MODE_").lower(),
        "use_dilation": det.use_dilation,
        "box_type": _enum_suffix(ocr_pb2.BoxType.Name(det.box_type), "BOX_TYPE_").lower(),
        "cls_slot": cls.slot, "cls_thresh": _f32(cls.thresh),
        "language": rec.slot, "drop_score": _f32(rec.drop_score),
        "use_angle_cls": msg.defaults.use_angle_cls,
    }
    slots = tuple(ServedSlot(ModelRef(s.model.stage, s.model.slot, s.model.name,
                                      s.model.version), s.language, s.ready)
                  for s in msg.slots)
    cache = msg.response_cache
    response_cache = ResponseCacheStats(cache.enabled, cache.max_bytes, cache.bytes,
                                        cache.entries, cache.hits, cache.misses, cache.evictions)
    counts = msg.streams
    streams = StreamStats(counts.active_streams, counts.frames_in_server, counts.processed,
                          counts.dropped, counts.deduped, counts.failed)
    return ServerInfo(msg.server_version, msg.api_version, limits, defaults, slots,
                      response_cache, streams)


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
        dropped_deadline=msg.dropped_deadline,
        dropped_cancelled=msg.dropped_cancelled,
        rejected_full=msg.rejected_full,
        standby_model=msg.standby_model,
        standby_version=msg.standby_version,
        load_seconds=msg.load_seconds,
        warm_seconds=msg.warm_seconds,
        last_used_unix=msg.last_used_unix,
        memory_bytes=msg.memory_bytes,
        model_bytes=msg.model_bytes,
    )


def pull_progress_from_proto(msg: models_pb2.PullProgress) -> PullProgress:
    return PullProgress(
        phase=_enum_suffix(models_pb2.PullProgress.Phase.Name(msg.phase), "PHASE_"),
        bytes_done=msg.bytes_done, bytes_total=msg.bytes_total, sha256=msg.sha256,
        version=msg.version, format=msg.format)


def health_status_name(status: int) -> str:
    """``SERVING``, ``NOT_SERVING``, ``SERVICE_UNKNOWN`` or ``UNKNOWN``."""
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(status))


def frame_result_from_proto(msg: ocr_pb2.StreamOcrResponse) -> FrameResult:
    status = _enum_suffix(ocr_pb2.FrameStatus.Name(msg.status), "FRAME_STATUS_").lower()
    result = msg.result
    return FrameResult(
        frame_id=msg.frame_id, timestamp_s=msg.timestamp_s,
        status=cast(FrameStatus, status),
        lines=tuple(text_line_from_proto(line) for line in result.lines),
        latency_ms=msg.latency_ms, models=models_from_proto(result.models),
        width=result.width, height=result.height, timings=_timings(result),
        deduped_from=msg.deduped_from if status == "deduped" else None,
        drop_reason=msg.drop_reason, error=_error(result, 0), reused_crops=msg.reused_crops)
