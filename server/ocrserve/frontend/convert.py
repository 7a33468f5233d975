"""Protobuf messages <-> pipeline objects.  No I/O, no model calls."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from ocrclient._proto.ocr.v1 import models_pb2 as mpb
from ocrclient._proto.ocr.v1 import ocr_pb2 as pb
from ocrserve.errors import InvalidInput, ResourceExhausted
from ocrserve.models.catalog import CatalogEntry
from ocrserve.models.repository import InstalledModel
from ocrserve.models.slots import normalize_slot
from ocrserve.ops import image as image_ops
from ocrserve.ops.det import DetParams
from ocrserve.pipeline import Angle, DetectedBox, OcrParams, TextLine, Timings
from ocrserve.settings import Settings

_CHANNEL_ORDER = {
    pb.CHANNEL_ORDER_UNSPECIFIED: "BGR",
    pb.CHANNEL_ORDER_BGR: "BGR",
    pb.CHANNEL_ORDER_RGB: "RGB",
    pb.CHANNEL_ORDER_GRAY: "GRAY",
    pb.CHANNEL_ORDER_BGRA: "BGRA",
    pb.CHANNEL_ORDER_RGBA: "RGBA",
}
_LIMIT_TYPE = {pb.LIMIT_TYPE_MAX: "max", pb.LIMIT_TYPE_MIN: "min",
               pb.LIMIT_TYPE_RESIZE_LONG: "resize_long"}
_SCORE_MODE = {pb.SCORE_MODE_FAST: "fast", pb.SCORE_MODE_SLOW: "slow"}
_BOX_TYPE = {pb.BOX_TYPE_QUAD: "quad", pb.BOX_TYPE_POLY: "poly"}


# ------------------------------------------------------------------- requests

def check_image_count(images: Sequence[pb.Image], settings: Settings) -> None:
    if not images:
        raise InvalidInput("the request has no images")
    if len(images) > settings.max_images_per_request:
        raise ResourceExhausted(f"{len(images)} images in one request; the limit is "
                                f"{settings.max_images_per_request} (max_images_per_request)")


def decode(msg: pb.Image, index: int, max_pixels: int) -> np.ndarray:
    """Decode one image message to BGR uint8; errors name the image."""
    label = f"image {index}" + (f" ({msg.id})" if msg.id else "")
    which = msg.WhichOneof("source")
    if which is None:
        raise InvalidInput(f"{label}: neither encoded bytes nor raw pixels given")
    if which == "raw":
        raw = msg.raw
        if raw.width * raw.height > max_pixels:
            raise ResourceExhausted(f"{label}: {raw.width}x{raw.height} exceeds the limit of "
                                    f"{max_pixels} pixels (max_image_pixels)")
        try:
            order = _CHANNEL_ORDER.get(raw.channel_order, "BGR")
            return image_ops.from_pixels(raw.pixels, raw.height, raw.width,
                                         image_ops.PIXEL_ORDERS[order], order)
        except InvalidInput as exc:
            raise InvalidInput(f"{label}: {exc}") from None
    try:
        img = image_ops.decode_image(msg.encoded)
    except InvalidInput as exc:
        raise InvalidInput(f"{label}: {exc}") from None
    if img.shape[0] * img.shape[1] > max_pixels:
        raise ResourceExhausted(f"{label}: {img.shape[1]}x{img.shape[0]} exceeds the limit of "
                                f"{max_pixels} pixels (max_image_pixels)")
    return img


def det_params(msg: pb.DetectionParams, defaults: DetParams) -> DetParams:
    changes: dict[str, object] = {}
    for name in ("limit_side_len", "thresh", "box_thresh", "unclip_ratio", "max_candidates",
                 "use_dilation"):
        if msg.HasField(name):
            changes[name] = getattr(msg, name)
    if msg.limit_type:
        changes["limit_type"] = _LIMIT_TYPE[msg.limit_type]
    if msg.score_mode:
        changes["score_mode"] = _SCORE_MODE[msg.score_mode]
    if msg.box_type:
        changes["box_type"] = _BOX_TYPE[msg.box_type]
    params = dataclasses.replace(defaults, **changes)  # type: ignore[arg-type]
    params.validate()
    return params


def ocr_params(
    settings: Settings,
    detection: pb.DetectionParams,
    classification: pb.ClassificationParams,
    recognition: pb.RecognitionParams,
    use_angle_cls: bool | None,
) -> OcrParams:
    cls_thresh = classification.thresh if classification.HasField("thresh") else settings.cls_thresh
    drop = recognition.drop_score if recognition.HasField("drop_score") else settings.drop_score
    if not 0.0 <= cls_thresh <= 1.0:
        raise InvalidInput(f"classification.thresh must be in [0, 1], got {cls_thresh}")
    return OcrParams(
        det=det_params(detection, settings.detection_defaults()),
        use_angle_cls=settings.use_angle_cls if use_angle_cls is None else use_angle_cls,
        cls_thresh=cls_thresh,
        drop_score=drop,
        rec_batch_num=settings.rec_batch_num,
        det_slot=normalize_slot(detection.slot, "det"),
        cls_slot=normalize_slot(classification.slot, "cls"),
        rec_slot=normalize_slot(recognition.slot, "rec"),
    )


# ------------------------------------------------------------------ responses

def points(arr: np.ndarray) -> list[pb.Point]:
    return [pb.Point(x=float(x), y=float(y)) for x, y in np.asarray(arr).reshape(-1, 2)]


def text_box(box: DetectedBox) -> pb.TextBox:
    return pb.TextBox(points=points(box.points), score=box.score)


def text_line(line: TextLine) -> pb.TextLine:
    return pb.TextLine(box=points(line.points), text=line.text, score=line.score,
                       angle=line.angle, angle_score=line.angle_score, box_score=line.box_score)


def classification(angle: Angle, image_id: str) -> pb.Classification:
    return pb.Classification(id=image_id, angle=angle.angle, score=angle.score)


def timings(t: Timings, decode_ms: float, total_ms: float) -> pb.StageTimings:
    return pb.StageTimings(decode_ms=decode_ms, det_ms=t.det_ms, cls_ms=t.cls_ms,
                           rec_ms=t.rec_ms, total_ms=total_ms)


_KIND = {"det": mpb.MODEL_KIND_DET, "cls": mpb.MODEL_KIND_CLS, "rec": mpb.MODEL_KIND_REC}


def model_kind(kind: str) -> mpb.ModelKind:
    return _KIND[kind]


def catalog_models(catalog: Mapping[str, CatalogEntry], installed: Sequence[InstalledModel]
                   ) -> list[mpb.CatalogModel]:
    """Catalog entries with their installed versions, then installed models the catalog
    does not know (a user's own imports)."""
    versions: dict[str, list[mpb.InstalledVersion]] = {}
    kinds: dict[str, str] = {}
    for model in installed:
        kinds[model.name] = model.kind
        versions.setdefault(model.name, []).append(
            mpb.InstalledVersion(version=model.version, format=model.format, source=model.source))
    out = [mpb.CatalogModel(name=e.name, kind=_KIND[e.kind], language=e.language or "",
                            slim=e.slim, size=e.size or "", inference_url=e.inference_url,
                            installed=versions.get(e.name, []))
           for e in catalog.values()]
    out += [mpb.CatalogModel(name=name, kind=_KIND[kinds[name]], installed=found)
            for name, found in versions.items() if name not in catalog]
    return out
