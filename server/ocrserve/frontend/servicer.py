"""gRPC servicers: request -> pipeline -> response.

Handlers only convert and orchestrate; every failure is an
:class:`~ocrserve.errors.OcrError` turned into a status by the interceptor
in ``frontend/errors.py``.  The images of one request run concurrently, so
their crops meet in the engine's batches like those of separate requests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import TypeVar

import numpy as np
from grpc import aio

from ocrclient._proto.ocr.v1 import models_pb2 as mpb
from ocrclient._proto.ocr.v1 import models_pb2_grpc, ocr_pb2_grpc
from ocrclient._proto.ocr.v1 import ocr_pb2 as pb
from ocrserve.engine.protocol import PRIORITY_HIGH, PRIORITY_NORMAL, Inference
from ocrserve.errors import Unimplemented
from ocrserve.frontend import convert
from ocrserve.models.catalog import load_catalog
from ocrserve.models.repository import ModelRepository
from ocrserve.models.slots import normalize_slot
from ocrserve.pipeline import Pipeline, Request, Timings
from ocrserve.settings import Settings

T = TypeVar("T")
R = TypeVar("R")


def request_context(context: aio.ServicerContext, priority: int) -> Request:
    """The RPC's deadline (as a monotonic instant) and batching priority."""
    remaining = context.time_remaining()
    return Request(deadline=None if remaining is None else time.monotonic() + remaining,
                   priority=PRIORITY_HIGH if priority == pb.PRIORITY_HIGH else PRIORITY_NORMAL)


class OcrServicer(ocr_pb2_grpc.OcrServiceServicer):
    def __init__(self, pipeline: Pipeline, inference: Inference, settings: Settings,
                 executor: Executor | None = None) -> None:
        self._pipeline = pipeline
        self._inference = inference
        self._settings = settings
        self._executor = executor

    # ------------------------------------------------------------ helpers

    async def _decode(self, images: Sequence[pb.Image]) -> list[tuple[np.ndarray, float]]:
        convert.check_image_count(images, self._settings)
        loop = asyncio.get_running_loop()

        def one(i: int, msg: pb.Image) -> tuple[np.ndarray, float]:
            started = time.perf_counter()
            img = convert.decode(msg, i, self._settings.max_image_pixels)
            return img, (time.perf_counter() - started) * 1000

        return list(await asyncio.gather(
            *(loop.run_in_executor(self._executor, one, i, m) for i, m in enumerate(images))))

    def _models(self, *slots: str) -> list[pb.ModelRef]:
        infos = self._inference.slots()
        return [pb.ModelRef(stage=infos[s].kind, slot=s, name=infos[s].model,
                            version=infos[s].version) for s in slots if s in infos]

    @staticmethod
    async def _each(items: Sequence[T], fn: Callable[[int, T], Awaitable[R]]) -> list[R]:
        return list(await asyncio.gather(*(fn(i, x) for i, x in enumerate(items))))

    # -------------------------------------------------------------- RPCs

    async def Detect(self, request: pb.DetectRequest, context: aio.ServicerContext
                     ) -> pb.DetectResponse:
        req = request_context(context, request.priority)
        slot = normalize_slot(request.detection.slot, "det")
        params = convert.det_params(request.detection, self._settings.detection_defaults())
        self._pipeline.slot(slot, "det")
        decoded = await self._decode(request.images)

        async def one(i: int, item: tuple[np.ndarray, float]) -> pb.DetectResult:
            img, decode_ms = item
            started = time.perf_counter()
            boxes = await self._pipeline.detect(img, params, slot, req)
            det_ms = (time.perf_counter() - started) * 1000
            result = pb.DetectResult(id=request.images[i].id, width=img.shape[1],
                                     height=img.shape[0],
                                     boxes=[convert.text_box(b) for b in boxes])
            if request.return_timings:
                result.timings.CopyFrom(convert.timings(Timings(det_ms=det_ms), decode_ms,
                                                        decode_ms + det_ms))
            return result

        results = await self._each(decoded, one)
        return pb.DetectResponse(results=results, models=self._models(slot))

    async def Classify(self, request: pb.ClassifyRequest, context: aio.ServicerContext
                       ) -> pb.ClassifyResponse:
        req = request_context(context, request.priority)
        slot = normalize_slot(request.classification.slot, "cls")
        self._pipeline.slot(slot, "cls")
        crops = [img for img, _ in await self._decode(request.images)]
        angles = await self._pipeline.classify(crops, slot, req)
        results = [convert.classification(a, m.id) for a, m in zip(angles, request.images,
                                                                    strict=True)]
        return pb.ClassifyResponse(results=results, models=self._models(slot))

    async def Recognize(self, request: pb.RecognizeRequest, context: aio.ServicerContext
                        ) -> pb.RecognizeResponse:
        req = request_context(context, request.priority)
        slot = normalize_slot(request.recognition.slot, "rec")
        self._pipeline.slot(slot, "rec")
        crops = [img for img, _ in await self._decode(request.images)]
        texts = await self._pipeline.recognize(crops, slot, req)
        results = [pb.Recognition(id=m.id, text=text, score=score)
                   for (text, score), m in zip(texts, request.images, strict=True)]
        return pb.RecognizeResponse(results=results, models=self._models(slot))

    async def Ocr(self, request: pb.OcrRequest, context: aio.ServicerContext) -> pb.OcrResponse:
        req = request_context(context, request.priority)
        params = convert.ocr_params(
            self._settings, request.detection, request.classification, request.recognition,
            request.use_angle_cls if request.HasField("use_angle_cls") else None)
        if params.use_angle_cls and not self._pipeline.has_slot(params.cls_slot):
            if request.HasField("use_angle_cls"):  # asked for explicitly: must exist
                self._pipeline.slot(params.cls_slot, "cls")
            params = dataclasses.replace(params, use_angle_cls=False)
        self._pipeline.slot(params.det_slot, "det")
        self._pipeline.slot(params.rec_slot, "rec")
        decoded = await self._decode(request.images)

        async def one(i: int, item: tuple[np.ndarray, float]) -> pb.OcrResult:
            img, decode_ms = item
            started = time.perf_counter()
            stage_times = Timings()
            lines = await self._pipeline.ocr(img, params, req, stage_times)
            total_ms = decode_ms + (time.perf_counter() - started) * 1000
            result = pb.OcrResult(id=request.images[i].id, width=img.shape[1],
                                  height=img.shape[0], lines=[convert.text_line(x) for x in lines])
            if request.return_timings:
                result.timings.CopyFrom(convert.timings(stage_times, decode_ms, total_ms))
            return result

        results = await self._each(decoded, one)
        used = [params.det_slot, params.cls_slot, params.rec_slot]
        slots = used if params.use_angle_cls else [used[0], used[2]]
        return pb.OcrResponse(results=results, models=self._models(*slots))

    async def StreamOcr(self, request_iterator: AsyncIterator[pb.StreamOcrRequest],
                        context: aio.ServicerContext) -> AsyncIterator[pb.StreamOcrResponse]:
        raise Unimplemented("StreamOcr is defined in ocr.v1 but not served by this release")
        yield  # pragma: no cover  (makes this an async generator)


class ModelServicer(models_pb2_grpc.ModelServiceServicer):
    """Read-only for now: catalog and slots.  Changing slots comes with hot swap."""

    def __init__(self, inference: Inference, settings: Settings) -> None:
        self._inference = inference
        self._settings = settings

    async def ListCatalog(self, request: mpb.ListCatalogRequest, context: aio.ServicerContext
                          ) -> mpb.ListCatalogResponse:
        repo = ModelRepository(Path(self._settings.model_repository))
        return mpb.ListCatalogResponse(models=convert.catalog_models(load_catalog(), repo.list()))

    async def ListSlots(self, request: mpb.ListSlotsRequest, context: aio.ServicerContext
                        ) -> mpb.ListSlotsResponse:
        stats = await self._inference.batch_stats()
        slots = [mpb.SlotStatus(slot=i.slot, kind=convert.model_kind(i.kind), model=i.model,
                                version=i.version, backend=i.backend, device=i.device,
                                state=mpb.SLOT_STATE_READY,
                                batches=int(stats.get(i.slot, {}).get("batches", 0)),
                                batched_items=int(stats.get(i.slot, {}).get("items", 0)),
                                queued=int(stats.get(i.slot, {}).get("queued", 0)))
                 for i in self._inference.slots().values()]
        return mpb.ListSlotsResponse(slots=slots)

    async def _unimplemented(self, *_: object) -> None:
        raise Unimplemented("slot management is defined in ocr.v1 but not served by this "
                            "release; configure slots with --slot at start-up")

    LoadSlot = UnloadSlot = SwapSlot = _unimplemented

    async def PullModel(self, request: mpb.PullModelRequest, context: aio.ServicerContext
                        ) -> AsyncIterator[mpb.PullModelProgress]:
        raise Unimplemented("PullModel is not served by this release; use `ocr-models pull`")
        yield  # pragma: no cover
