"""PaddleOCR's system pipeline over the :class:`Inference` seam.

det -> sort boxes -> crop -> cls (optional) -> rec -> drop_score, as
PaddleOCR's ``TextSystem`` does it, with the same pre- and post-processing
(``ocrserve.ops``).  The model calls go to ``Inference.infer``; there the
engine merges crops of this image with crops of other requests into batches.

Every stage returns its value together with the models that produced it
(:class:`Output`), so a response names the version that really ran, not the
one a slot happens to serve when the response is built.

CPU-heavy steps (resize, DB post-processing, perspective warps) run in a
thread pool so one large image does not stall the event loop; OpenCV and
numpy release the GIL for most of that work.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import partial
from typing import Generic, TypeVar

import numpy as np

from ocrserve.context import to_thread
from ocrserve.engine.policy import Priority
from ocrserve.engine.protocol import Inference, SlotInfo
from ocrserve.errors import InvalidInput, NotFound, Reason
from ocrserve.metrics.cpu import cpu_of, metered
from ocrserve.models.catalog import dictionary_lines, load_catalog
from ocrserve.ops import cls as cls_ops
from ocrserve.ops import det as det_ops
from ocrserve.ops import geometry
from ocrserve.ops import rec as rec_ops
from ocrserve.output_memo import FrameMemo

T = TypeVar("T")

#: Model kinds whose outputs a stream's memo may answer (crops repeat; whole frames
#: are StreamOcr's dedup).
MEMO_KINDS = ("cls", "rec")


@dataclass(frozen=True)
class DetectedBox:
    points: np.ndarray  # (N, 2) float32, N == 4 for quads
    score: float


@dataclass(frozen=True)
class Angle:
    """The classifier's label (0 or 180), its confidence, and whether that turns the
    crop (label 180 with a score above the threshold, as PaddleOCR decides)."""

    angle: int
    score: float
    rotated: bool = False


@dataclass(frozen=True)
class TextLine:
    points: np.ndarray
    text: str
    score: float
    box_score: float
    angle: int = 0
    angle_score: float = 0.0
    rotated: bool = False


@dataclass(frozen=True)
class ModelUse:
    """A model that produced (part of) a stage's output."""

    stage: str
    slot: str
    name: str
    version: int


@dataclass(frozen=True)
class Output(Generic[T]):
    """A stage's result and the models that produced it, in stage order."""

    value: T
    models: tuple[ModelUse, ...] = ()


@dataclass(frozen=True)
class Limits:
    """Bounds on the work one image may cause, whatever its parameters ask for."""

    det_max_side_len: int = 4096
    det_max_pixels: int = 4096 * 4096
    max_crops_per_image: int = 1000


@dataclass(frozen=True)
class OcrParams:
    """Everything a request may override; the server fills the rest from settings."""

    det: det_ops.DetParams = field(default_factory=det_ops.DetParams)
    use_angle_cls: bool = True
    cls_thresh: float = 0.9
    drop_score: float = 0.5
    rec_batch_num: int = 6
    det_slot: str = "det"
    cls_slot: str = "cls"
    rec_slot: str = "rec"

    def validate(self, limits: Limits = Limits()) -> None:
        """Raise InvalidInput naming (in ``ocr.v1`` field paths) the first value out of
        range.  The one place these ranges are declared, for requests and config alike."""
        self.det.validate("detection.", max_side_len=limits.det_max_side_len,
                          max_candidates=limits.max_crops_per_image)
        check_unit_interval("classification.thresh", self.cls_thresh)
        check_unit_interval("recognition.drop_score", self.drop_score)


def check_unit_interval(field_path: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:  # False for NaN too
        raise InvalidInput(f"{field_path} must be in [0, 1], got {value:g}",
                           reason=Reason.PARAMETER_OUT_OF_RANGE, field=field_path,
                           metadata={"field": field_path, "value": f"{value:g}",
                                     "limit": "[0, 1]"})


@dataclass
class Timings:
    """What one image cost: milliseconds per stage (wall time, queueing included) and
    the boxes detected (each one a crop for cls and rec)."""

    det_ms: float = 0.0
    cls_ms: float = 0.0
    rec_ms: float = 0.0
    boxes: int = 0


@dataclass(frozen=True)
class Request:
    """Per-RPC context the pipeline passes down to the engine."""

    deadline: float | None = None
    priority: Priority = Priority.NORMAL
    #: A video stream's memory of cls and rec outputs (see output_memo.py); None: none.
    memo: FrameMemo | None = None


class Pipeline:
    def __init__(self, inference: Inference, executor: Executor | None = None,
                 limits: Limits = Limits()) -> None:
        self._inference = inference
        self._executor = executor
        self._limits = limits
        self._decoders: dict[str, rec_ops.CtcDecoder] = {}

    # ------------------------------------------------------------ helpers

    def slot(self, name: str, kind: str, field_path: str | None = None) -> SlotInfo:
        """The loaded slot ``name`` of ``kind``; NotFound (SLOT_NOT_FOUND) otherwise."""
        info = self._inference.slots().get(name)
        if info is None or info.kind != kind:
            known = ", ".join(sorted(s for s, i in self._inference.slots().items()
                                     if i.kind == kind)) or "none"
            raise NotFound(f"no {kind} slot named {name!r}; loaded: {known}",
                           field=field_path, metadata={"slot": name, "loaded": known})
        return info

    def has_slot(self, name: str) -> bool:
        return name in self._inference.slots()

    async def _cpu(self, stage: str, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` in the executor, its CPU time counted under ``stage``."""
        return await to_thread(self._executor, metered(stage, fn), *args)

    async def _infer(self, info: SlotInfo, items: Sequence[np.ndarray],
                     req: Request) -> Output[list[np.ndarray]]:
        """The model's output per item; with a memo, items it has seen are not run."""
        memo = req.memo if info.kind in MEMO_KINDS else None
        if memo is None or not items:
            return await self._run_model(info, items, req)
        keys = await self._cpu("memo_keys", memo.keys, info.slot, info.model, info.version, items)
        outputs = memo.lookup(info.kind, keys)
        missing = [i for i, output in enumerate(outputs) if output is None]
        ran = await self._run_model(info, [items[i] for i in missing], req)
        remembered = ran.models == (ModelUse(info.kind, info.slot, info.model, info.version),)
        for i, output in zip(missing, ran.value, strict=True):
            outputs[i] = output
            if remembered:  # not across a swap that landed during this call
                memo.memo.put(keys[i], output)
        reused = (ModelUse(info.kind, info.slot, info.model, info.version),) if len(
            missing) < len(items) else ()
        models = tuple(dict.fromkeys((*ran.models, *reused)))
        return Output([o for o in outputs if o is not None], models)

    async def _run_model(self, info: SlotInfo, items: Sequence[np.ndarray],
                         req: Request) -> Output[list[np.ndarray]]:
        if not items:
            return Output([])
        inferred = await self._inference.infer(info.slot, items, priority=req.priority,
                                               deadline=req.deadline)
        models = tuple(ModelUse(info.kind, info.slot, m.name, m.version)
                       for m in inferred.models)
        return Output(inferred.outputs, models)

    def _decoder(self, info: SlotInfo) -> rec_ops.CtcDecoder:
        key = f"{info.slot}/{info.model}/{info.version}"
        if key not in self._decoders:
            if info.dictionary is None:
                raise NotFound(f"rec slot {info.slot} has no dictionary")
            chars = dictionary_lines(info.dictionary)
            # PaddleOCR reverses right-to-left text for its Arabic dictionary.
            entry = load_catalog().get(info.model)
            reverse = entry is not None and entry.language == "arabic"
            self._decoders[key] = rec_ops.CtcDecoder(chars, use_space_char=True, reverse=reverse)
        return self._decoders[key]

    # ------------------------------------------------------------- stages

    async def detect(self, image: np.ndarray, params: det_ops.DetParams, slot: str = "det",
                     req: Request = Request()) -> Output[list[DetectedBox]]:
        """Boxes in reading order, in the coordinates of ``image``."""
        info = self.slot(slot, "det")
        self._check_det_input(image.shape[0], image.shape[1], params)
        resized, shape_info = await self._cpu("det_preprocess", det_ops.det_prepare, image,
                                              params)
        prob = await self._infer(info, [resized], req)
        boxes = await self._cpu("det_postprocess", _postprocess_det, prob.value[0], shape_info,
                                params, image.shape)
        return Output(boxes, prob.models)

    def detector_pixels(self, height: int, width: int, params: det_ops.DetParams) -> int:
        """Pixels of the detector input for an image of this size; 0 where
        :meth:`detect` refuses it before allocating anything (so it costs nothing)."""
        h, w = det_ops.det_input_size(height, width, params.limit_side_len, params.limit_type)
        return 0 if self._over_det_limits(h, w) else h * w

    def _over_det_limits(self, height: int, width: int) -> bool:
        limits = self._limits
        return max(height, width) > limits.det_max_side_len or \
            height * width > limits.det_max_pixels

    def _check_det_input(self, height: int, width: int, params: det_ops.DetParams) -> None:
        """Refuse an image whose detector input would exceed the limits, before resizing:
        limit_type "min" can ask for a 20000-pixel side on a 100-pixel image."""
        h, w = det_ops.det_input_size(height, width, params.limit_side_len, params.limit_type)
        limits = self._limits
        if self._over_det_limits(h, w):
            raise InvalidInput(
                f"the detector input for this {width}x{height} image with limit_side_len="
                f"{params.limit_side_len}, limit_type={params.limit_type} would be {w}x{h}, "
                f"over the limit of {limits.det_max_side_len} per side and "
                f"{limits.det_max_pixels} pixels (det_max_side_len, det_max_pixels)",
                reason=Reason.DETECTOR_INPUT_TOO_LARGE,
                metadata={"value": f"{w}x{h}", "limit": f"{limits.det_max_side_len} per side, "
                          f"{limits.det_max_pixels} pixels",
                          "setting": "det_max_side_len, det_max_pixels"})

    async def classify(self, crops: Sequence[np.ndarray], slot: str = "cls",
                       req: Request = Request(), thresh: float = 0.9) -> Output[list[Angle]]:
        """Label and confidence per crop; ``rotated`` where the label is 180 with a score
        above ``thresh``."""
        async def prepare(info: SlotInfo) -> list[np.ndarray]:
            _, height, width = info.input_shape
            shape = (3, int(height or 48), int(width or 192))
            return await self._cpu("cls_preprocess", _map,
                                   partial(cls_ops.cls_input, image_shape=shape), crops)

        outputs = await self._infer_prepared(slot, "cls", prepare, req)
        if not outputs.value:
            return Output([], outputs.models)
        with cpu_of("cls_postprocess"):
            decoded = cls_ops.cls_decode(np.stack(outputs.value))
            angles = [Angle(180 if "180" in label else 0, score,
                            rotated=cls_ops.turns_crop(label, score, thresh))
                      for label, score in decoded]
        return Output(angles, outputs.models)

    async def recognize(self, crops: Sequence[np.ndarray], slot: str = "rec",
                        req: Request = Request(), group: int = 1
                        ) -> Output[list[tuple[str, float]]]:
        """Text per crop.  ``group`` is PaddleOCR's rec_batch_num (see :func:`rec_tensors`):
        1 treats every crop on its own, as PaddleOCR's recognition-only call does."""
        async def prepare(info: SlotInfo) -> list[np.ndarray]:
            return await self._cpu("rec_preprocess", rec_tensors, crops, info.input_height, group)

        outputs = await self._infer_prepared(slot, "rec", prepare, req)
        info = self.slot(slot, "rec")
        if outputs.models and (outputs.models[0].name, outputs.models[0].version) != (
                info.model, info.version):
            # A swap happened meanwhile: decode with the dictionary of the model that ran.
            # Its slots snapshot reaches us before any result of the new model does.
            info = self.slot(slot, "rec")
        decoder = self._decoder(info)
        with cpu_of("rec_postprocess"):
            texts = [decoder.decode(out[None, :, 0].astype(np.int64), out[None, :, 1])[0]
                     for out in outputs.value]
        return Output(texts, outputs.models)

    async def _infer_prepared(self, slot: str, kind: str,
                              prepare: Callable[[SlotInfo], Awaitable[list[np.ndarray]]],
                              req: Request) -> Output[list[np.ndarray]]:
        """Prepare inputs for the slot's model and run them.  A swap to a model of another
        input shape can land between the two (the engine then refuses the old shape):
        then they are prepared once more, for the model that serves now."""
        info = self.slot(slot, kind)
        try:
            return await self._infer(info, await prepare(info), req)
        except InvalidInput:
            current = self.slot(slot, kind)
            if current.input_shape == info.input_shape:
                raise
            return await self._infer(current, await prepare(current), req)

    async def ocr(self, image: np.ndarray, params: OcrParams,
                  req: Request = Request(), timings: Timings | None = None
                  ) -> Output[list[TextLine]]:
        """The full pipeline; lines scoring below ``drop_score`` are dropped."""
        timings = timings if timings is not None else Timings()
        started = time.perf_counter()
        detected = await self.detect(image, params.det, params.det_slot, req)
        boxes = detected.value
        crop = geometry.crop_quad if params.det.box_type == "quad" else geometry.crop_min_area_rect
        crops = await self._cpu("crop", _map, partial(crop, image), [b.points for b in boxes])
        after_det = time.perf_counter()
        timings.det_ms = (after_det - started) * 1000
        timings.boxes = len(boxes)

        models = list(detected.models)
        angles = [Angle(0, 0.0)] * len(crops)
        if params.use_angle_cls and crops:
            classified = await self.classify(crops, params.cls_slot, req, params.cls_thresh)
            angles, models = classified.value, models + list(classified.models)
            with cpu_of("cls_postprocess"):
                crops = [cls_ops.apply_angle(c, str(a.angle), a.score, params.cls_thresh)
                         for c, a in zip(crops, angles, strict=True)]
        after_cls = time.perf_counter()
        timings.cls_ms = (after_cls - after_det) * 1000

        recognized = await self.recognize(crops, params.rec_slot, req, params.rec_batch_num)
        timings.rec_ms = (time.perf_counter() - after_cls) * 1000
        lines = [
            TextLine(box.points, text, score, box.score, angle.angle, angle.score, angle.rotated)
            for box, angle, (text, score) in zip(boxes, angles, recognized.value, strict=True)
            if score >= params.drop_score
        ]
        return Output(lines, (*models, *recognized.models))


def _map(fn: Callable[[np.ndarray], T], items: Sequence[np.ndarray]) -> list[T]:
    return [fn(item) for item in items]


def rec_tensors(crops: Sequence[np.ndarray], height: int, group: int) -> list[np.ndarray]:
    """Recognizer inputs with PaddleOCR's batch geometry.

    PaddleOCR sorts an image's crops by aspect ratio, takes them ``group``
    (rec_batch_num) at a time and pads each group to its widest crop; the
    recognizers (BiLSTM, SVTR) see that padding, and in our measurements it
    changes ~1 text in 10.  So each crop is resized and given the padded width
    PaddleOCR would give it here (uint8, its padding marked: ``ops.rec.rec_input``;
    the engine normalises); the engine then batches only crops of equal padded width,
    from any request, and the result does not depend on what else is queued.
    Widths are capped at rec_ops.REC_MAX_WIDTH so a pathological aspect ratio cannot
    exhaust memory (PaddleOCR issue 7454).
    """
    ratios = np.array([c.shape[1] / float(c.shape[0]) for c in crops])
    order = np.argsort(ratios)  # PaddleOCR's (unstable) argsort, so ties order the same
    out: list[np.ndarray] = [np.empty(0, np.uint8)] * len(crops)
    for start in range(0, len(crops), group):
        members = order[start:start + group]
        ratio = rec_ops.rec_max_wh_ratio([crops[i].shape[:2] for i in members], height,
                                         rec_ops.REC_BASE_WIDTH)
        width = rec_ops.rec_padded_width(height, min(ratio, rec_ops.REC_MAX_WIDTH / height))
        for i in members:
            out[i] = rec_ops.rec_input(crops[i], height, width)
    return out


def _postprocess_det(prob: np.ndarray, shape_info: det_ops.ShapeInfo, params: det_ops.DetParams,
                     image_shape: tuple[int, ...]) -> list[DetectedBox]:
    boxes, scores = det_ops.db_postprocess(prob, shape_info, params)
    boxes, scores = det_ops.filter_det_boxes(boxes, scores, image_shape[0], image_shape[1],
                                             params.box_type)
    return [DetectedBox(np.asarray(boxes[i], np.float32), float(scores[i]))
            for i in geometry.sort_order(boxes)]


__all__ = ["Angle", "DetectedBox", "ModelUse", "OcrParams", "Output", "Pipeline", "Request",
           "TextLine", "Timings"]
