"""Protobuf messages <-> pipeline objects.  No I/O, no model calls.

Request parameters are read and checked here, for every RPC the same way:
unset fields take the server's defaults (the settings), and the ranges are
those declared once on :class:`~ocrserve.pipeline.OcrParams` and
:class:`~ocrserve.ops.det.DetParams`.  Errors name the request field at fault
in ``ocr.v1`` terms (``images[3].encoded``, ``detection.box_thresh``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from ocrclient.proto.ocr.v1 import models_pb2 as mpb
from ocrclient.proto.ocr.v1 import ocr_pb2 as pb
from ocrserve.engine.policy import Priority
from ocrserve.errors import InvalidInput, OcrError, Reason
from ocrserve.models.catalog import CatalogEntry
from ocrserve.models.repository import InstalledModel
from ocrserve.models.slots import normalize_slot
from ocrserve.ops import image as image_ops
from ocrserve.ops.det import DetParams
from ocrserve.ops.header import image_size
from ocrserve.pipeline import Angle, DetectedBox, ModelUse, OcrParams, TextLine, Timings
from ocrserve.settings import Settings

_CHANNEL_ORDER = {
    pb.CHANNEL_ORDER_UNSPECIFIED: "BGR",
    pb.CHANNEL_ORDER_BGR: "BGR",
    pb.CHANNEL_ORDER_RGB: "RGB",
    pb.CHANNEL_ORDER_GRAY: "GRAY",
    pb.CHANNEL_ORDER_BGRA: "BGRA",
    pb.CHANNEL_ORDER_RGBA: "RGBA",
}
_LIMIT_TYPE: dict[int, str] = {pb.LIMIT_TYPE_MAX: "max", pb.LIMIT_TYPE_MIN: "min",
                               pb.LIMIT_TYPE_RESIZE_LONG: "resize_long"}
_SCORE_MODE: dict[int, str] = {pb.SCORE_MODE_FAST: "fast", pb.SCORE_MODE_SLOW: "slow"}
_BOX_TYPE: dict[int, str] = {pb.BOX_TYPE_QUAD: "quad", pb.BOX_TYPE_POLY: "poly"}
_PRIORITY: dict[int, Priority] = {pb.PRIORITY_UNSPECIFIED: Priority.NORMAL,
                                  pb.PRIORITY_NORMAL: Priority.NORMAL,
                                  pb.PRIORITY_HIGH: Priority.HIGH}


# ------------------------------------------------------------------- requests

def check_image_count(images: Sequence[pb.Image], settings: Settings) -> None:
    if not images:
        raise InvalidInput("the request has no images", reason=Reason.NO_IMAGES, field="images")
    limit = settings.max_images_per_request
    if len(images) > limit:
        raise InvalidInput(f"{len(images)} images in one request; the limit is {limit} "
                           "(max_images_per_request)", reason=Reason.TOO_MANY_IMAGES,
                           field="images", metadata={"limit": limit, "value": len(images),
                                                     "setting": "max_images_per_request"})


def decode(msg: pb.Image, index: int, max_pixels: int) -> np.ndarray:
    """Decode one image message to BGR uint8.

    Errors name the image by its field (``images[3].encoded``); their text does
    not repeat the index, since they are that image's own result.
    """
    which = msg.WhichOneof("source")
    if which is None:
        raise InvalidInput("neither encoded bytes nor raw pixels given",
                           reason=Reason.IMAGE_EMPTY, field=f"images[{index}]")
    field_path = f"images[{index}].{'raw.pixels' if which == 'raw' else 'encoded'}"
    try:
        if which == "raw":
            raw = msg.raw
            image_ops.check_pixels(raw.width, raw.height, max_pixels)
            order = _CHANNEL_ORDER.get(raw.channel_order)
            if order is None:
                raise InvalidInput(f"unknown channel order {raw.channel_order}",
                                   reason=Reason.IMAGE_UNDECODABLE,
                                   field=f"images[{index}].raw.channel_order",
                                   metadata={"value": raw.channel_order})
            return image_ops.from_pixels(raw.pixels, raw.height, raw.width,
                                         image_ops.PIXEL_ORDERS[order], order)
        return image_ops.decode_image(msg.encoded, max_pixels)
    except OcrError as exc:
        exc.field = exc.field or field_path  # ops do not know where their input came from
        raise


def request_pixels(images: Sequence[pb.Image], max_pixels: int,
                   detector_pixels: Callable[[int, int], int] | None = None) -> int:
    """What a request costs: the pixels its images declare (raw sizes, encoded headers),
    known before anything is decoded.  Images that will fail on their own (no size, over
    ``max_pixels``) cost nothing.

    Where the images go through the detector, ``detector_pixels(height, width)`` gives
    the pixels of an image's detector input (Pipeline.detector_pixels), and the image
    costs those where they are more: limit_type min or resize_long scale a 67-byte 1x1
    PNG up to a 4096x4096 input, gigabytes of engine memory, which admission counted
    as one pixel."""
    total = 0
    for image in images:
        size = _declared_size(image)
        if size is None or size[0] * size[1] > max_pixels:
            continue
        width, height = size
        pixels = width * height
        if detector_pixels is not None and pixels:
            pixels = max(pixels, detector_pixels(height, width))
        total += pixels
    return total


def _declared_size(image: pb.Image) -> tuple[int, int] | None:
    """(width, height) as the request or the image's header declares it."""
    which = image.WhichOneof("source")
    if which == "raw":
        return image.raw.width, image.raw.height
    return image_size(image.encoded) if which == "encoded" else None


def priority(value: int) -> Priority:
    if value not in _PRIORITY:
        raise InvalidInput(f"priority: unknown value {value}", field="priority",
                           metadata={"field": "priority", "value": value})
    return _PRIORITY[value]


def det_params(msg: pb.DetectionParams, settings: Settings) -> DetParams:
    """The request's detection parameters over the server's defaults, range-checked."""
    defaults = settings.detection_defaults()
    changes: dict[str, object] = {}
    for name in ("limit_side_len", "thresh", "box_thresh", "unclip_ratio", "max_candidates",
                 "use_dilation"):
        if msg.HasField(name):
            changes[name] = getattr(msg, name)
    for name, names in (("limit_type", _LIMIT_TYPE), ("score_mode", _SCORE_MODE),
                        ("box_type", _BOX_TYPE)):
        value = getattr(msg, name)
        if value:
            if value not in names:
                raise InvalidInput(f"detection.{name}: unknown value {value}",
                                   field=f"detection.{name}",
                                   metadata={"field": f"detection.{name}", "value": value})
            changes[name] = names[value]
    params = dataclasses.replace(defaults, **changes)  # type: ignore[arg-type]
    limits = settings.limits()
    params.validate("detection.", max_side_len=limits.det_max_side_len,
                    max_candidates=limits.max_crops_per_image)
    return params


def slot_name(name: str, kind: str, field_path: str) -> str:
    """A request's slot field as a slot name ('' -> kind, 'french' -> 'rec:french')."""
    try:
        return normalize_slot(name, kind)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field=field_path,
                           metadata={"field": field_path, "value": name}) from None


def cls_thresh(msg: pb.ClassificationParams, settings: Settings) -> float:
    return msg.thresh if msg.HasField("thresh") else settings.cls_thresh


def ocr_params(
    settings: Settings,
    detection: pb.DetectionParams,
    classification: pb.ClassificationParams,
    recognition: pb.RecognitionParams,
    use_angle_cls: bool | None,
) -> OcrParams:
    drop = recognition.drop_score if recognition.HasField("drop_score") else settings.drop_score
    params = OcrParams(
        det=det_params(detection, settings),
        use_angle_cls=settings.use_angle_cls if use_angle_cls is None else use_angle_cls,
        cls_thresh=cls_thresh(classification, settings),
        drop_score=drop,
        rec_batch_num=settings.rec_batch_num,
        det_slot=slot_name(detection.slot, "det", "detection.slot"),
        cls_slot=slot_name(classification.slot, "cls", "classification.slot"),
        rec_slot=slot_name(recognition.slot, "rec", "recognition.slot"),
    )
    params.validate(settings.limits())
    return params


# ------------------------------------------------------------------ responses

def points(arr: np.ndarray) -> list[pb.Point]:
    return [pb.Point(x=float(x), y=float(y)) for x, y in np.asarray(arr).reshape(-1, 2)]


def text_box(box: DetectedBox) -> pb.TextBox:
    return pb.TextBox(points=points(box.points), score=box.score)


def text_line(line: TextLine) -> pb.TextLine:
    return pb.TextLine(box=points(line.points), text=line.text, score=line.score,
                       angle=line.angle, angle_score=line.angle_score, box_score=line.box_score,
                       rotated=line.rotated)


def classification(angle: Angle, image_id: str) -> pb.Classification:
    return pb.Classification(id=image_id, angle=angle.angle, score=angle.score,
                             rotated=angle.rotated)


def timings(t: Timings, decode_ms: float, total_ms: float) -> pb.StageTimings:
    return pb.StageTimings(decode_ms=decode_ms, det_ms=t.det_ms, cls_ms=t.cls_ms,
                           rec_ms=t.rec_ms, total_ms=total_ms)


def model_refs(models: Iterable[ModelUse]) -> list[pb.ModelRef]:
    """One ModelRef per distinct model, in stage order."""
    return [pb.ModelRef(stage=m.stage, slot=m.slot, name=m.name, version=m.version)
            for m in dict.fromkeys(models)]


def detection_defaults(params: DetParams, slot: str) -> pb.DetectionParams:
    """``params`` as a DetectionParams message with every field set (GetServerInfo)."""
    msg = pb.DetectionParams(
        slot=slot, limit_side_len=params.limit_side_len, thresh=params.thresh,
        box_thresh=params.box_thresh, unclip_ratio=params.unclip_ratio,
        max_candidates=params.max_candidates, use_dilation=params.use_dilation)
    msg.limit_type = _enum_value(_LIMIT_TYPE, params.limit_type)  # type: ignore[assignment]
    msg.score_mode = _enum_value(_SCORE_MODE, params.score_mode)  # type: ignore[assignment]
    msg.box_type = _enum_value(_BOX_TYPE, params.box_type)  # type: ignore[assignment]
    return msg


def _enum_value(names: Mapping[int, str], name: str) -> int:
    return next(value for value, known in names.items() if known == name)


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
