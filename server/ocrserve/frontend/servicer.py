"""gRPC servicers: request -> pipeline -> response.

Handlers only convert and orchestrate.  Two kinds of failure:

- Request-level (no images, a parameter out of range, an unknown slot, a full
  queue, an engine restart, the deadline): an :class:`~ocrserve.errors.OcrError`
  escapes the handler and the interceptor (``frontend/errors.py``) fails the RPC
  with its status.  The other images' work is cancelled.
- Per image (it cannot be decoded, is over a size limit, or the model failed
  on it): that image's result carries a ``google.rpc.Status`` and the others
  succeed, as in Google Vision's batch API.  Transient conditions are never
  per image: they fail the RPC, so a client's retry covers the whole request.

The images of one request run concurrently, so their work meets in the
engine's batches like that of separate requests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import Executor
from functools import partial
from typing import TypeVar

import numpy as np
from google.protobuf.message import Message
from google.rpc import status_pb2
from grpc import aio

from ocrclient.proto.ocr.v1 import ocr_pb2 as pb
from ocrclient.proto.ocr.v1 import ocr_pb2_grpc
from ocrserve import __version__
from ocrserve.context import to_thread
from ocrserve.engine.protocol import Inference
from ocrserve.errors import InvalidInput, ModelError, OcrError
from ocrserve.frontend import convert
from ocrserve.frontend.admission import Admission
from ocrserve.frontend.errors import status_of
from ocrserve.frontend.response_cache import ResponseCache, cache_key
from ocrserve.frontend.stream import FrameStream, StreamCounters
from ocrserve.memory import FRONTEND_TRIM_GROWTH, IdleTrim
from ocrserve.metrics import families
from ocrserve.metrics.cpu import cpu_of, metered
from ocrserve.models.catalog import load_catalog
from ocrserve.ops.det import DetParams
from ocrserve.ops.rec import REC_MAX_WIDTH
from ocrserve.pipeline import (
    OcrParams,
    Pipeline,
    Request,
    Timings,
    check_unit_interval,
)
from ocrserve.settings import Settings

log = logging.getLogger(__name__)

API_VERSION = "ocr.v1"

#: A per-image result message: DetectResult, Classification, Recognition or OcrResult,
#: each with an ``id``, an ``error`` and (Detect, Ocr) ``timings``.
R = TypeVar("R", bound=Message)
Failed = Callable[[str, status_pb2.Status], R]


def request_context(context: aio.ServicerContext, priority: int) -> Request:
    """The RPC's deadline (as a monotonic instant) and batching priority."""
    remaining = context.time_remaining()
    return Request(deadline=None if remaining is None else time.monotonic() + remaining,
                   priority=convert.priority(priority))


async def per_image(images: Sequence[pb.Image], work: Callable[[int, pb.Image], Awaitable[R]],
                    failed: Failed[R], rpc: str = "") -> list[R]:
    """``work`` for every image concurrently, one result each, in order.

    An image's own failure (InvalidInput, ModelError, or a bug) becomes
    ``failed(image id, status)``; any other error fails the whole call at once
    and cancels the work still running for the other images.  Failed images are
    counted under ``rpc`` in ``ocr_image_failure_total``.
    """
    async def guarded(index: int, image: pb.Image) -> R:
        try:
            return await work(index, image)
        except (InvalidInput, ModelError) as exc:
            exc.field = exc.field or f"images[{index}]"
            _log_image_failure(index, exc)
            families.IMAGE_FAILURE.labels(rpc, str(exc.reason)).inc()
            return failed(image.id, status_of(exc))
        except OcrError:
            raise
        except Exception as exc:  # a bug on one image: that image fails, not the request
            log.exception("image %d: unexpected error", index)
            internal = OcrError(f"unexpected {type(exc).__name__}: {exc}")
            families.IMAGE_FAILURE.labels(rpc, str(internal.reason)).inc()
            return failed(image.id, status_of(internal))

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(guarded(i, image)) for i, image in enumerate(images)]
    except BaseExceptionGroup as failures:  # the first request-level error is the answer
        raise failures.exceptions[0] from None
    return [task.result() for task in tasks]


def _log_image_failure(index: int, exc: OcrError) -> None:
    if exc.status == "INTERNAL":
        log.error("image %d failed: %s: %s", index, exc.reason, exc, exc_info=exc)
    else:
        log.info("image %d refused: %s: %s", index, exc.reason, exc)


class OcrServicer(ocr_pb2_grpc.OcrServiceServicer):
    def __init__(self, pipeline: Pipeline, inference: Inference, settings: Settings,
                 executor: Executor | None = None, admission: Admission | None = None,
                 on_load: Callable[[int], None] | None = None) -> None:
        """``on_load`` hears the pixels in flight here whenever they change (spread.py)."""
        self._pipeline = pipeline
        self._inference = inference
        self._settings = settings
        self._executor = executor
        # a burst of large images leaves no peak behind
        trim = IdleTrim(min_growth_bytes=FRONTEND_TRIM_GROWTH)
        self._admission = admission or Admission(
            settings.max_inflight_pixels, settings.max_request_pixels,
            on_idle=trim.idle, on_busy=trim.busy, on_change=on_load)
        self.cache = ResponseCache(settings.response_cache_mb * 1024 * 1024)
        self.streams = StreamCounters()

    async def _each_image(self, request: Message, images: Sequence[pb.Image],
                          work: Callable[[int, pb.Image], Awaitable[R]],
                          result_type: type[R], det: DetParams | None = None) -> list[R]:
        """:func:`per_image` through the response cache, once the request is admitted
        whole (see admission.py).  ``det``: the detection parameters, where the images
        go through the detector."""
        convert.check_image_count(images, self._settings)
        if self.cache.enabled:
            work = self._cached(request, work, result_type)
        with self._admission.admit(self._cost(images, det)):
            return await per_image(images, work,
                                   lambda id_, error: result_type(id=id_, error=error),
                                   type(request).__name__.removesuffix("Request"))

    def _cost(self, images: Sequence[pb.Image], det: DetParams | None) -> int:
        """The pixels admission counts for ``images`` (convert.request_pixels); ``det``:
        they go through the detector with these parameters."""
        detector_pixels = None if det is None else partial(
            self._pipeline.detector_pixels, params=det)
        return convert.request_pixels(images, self._settings.max_image_pixels, detector_pixels)

    def _cached(self, request: Message, work: Callable[[int, pb.Image], Awaitable[R]],
                result_type: type[R]) -> Callable[[int, pb.Image], Awaitable[R]]:
        """``work`` answered from the cache when it can; successful results are stored
        without their id and timings (a hit gets the lookup's time)."""
        method = type(request).__name__
        versions = [(i.slot, i.model, i.version) for i in self._inference.slots().values()]

        async def cached(index: int, image: pb.Image) -> R:
            started = time.perf_counter()
            key = cache_key(method, image, request, versions)
            stored = self.cache.get(key)
            (families.RESPONSE_CACHE_MISSES if stored is None
             else families.RESPONSE_CACHE_HITS).inc()
            if stored is not None:
                result = result_type.FromString(stored)
                result.id = image.id  # type: ignore[attr-defined]
                if getattr(request, "return_timings", False):
                    elapsed_ms = (time.perf_counter() - started) * 1000
                    result.timings.CopyFrom(  # type: ignore[attr-defined]
                        pb.StageTimings(total_ms=elapsed_ms, cached=True))
                return result
            result = await work(index, image)
            if not result.HasField("error"):
                entry = result_type()
                entry.CopyFrom(result)
                for name in ("id", "timings"):
                    if name in entry.DESCRIPTOR.fields_by_name:
                        entry.ClearField(name)
                self.cache.put(key, entry.SerializeToString())
            return result

        return cached

    async def _decode(self, index: int, image: pb.Image) -> tuple[np.ndarray, float]:
        """The image as BGR uint8 and the milliseconds decoding took."""
        started = time.perf_counter()
        img = await to_thread(self._executor, metered("decode", convert.decode), image, index,
                              self._settings.max_image_pixels)
        families.IMAGE_PIXELS.observe(img.shape[0] * img.shape[1])
        return img, (time.perf_counter() - started) * 1000

    # -------------------------------------------------------------- RPCs

    async def Detect(self, request: pb.DetectRequest, context: aio.ServicerContext
                     ) -> pb.DetectResponse:
        req = request_context(context, request.priority)
        slot = convert.slot_name(request.detection.slot, "det", "detection.slot")
        params = convert.det_params(request.detection, self._settings)
        self._pipeline.slot(slot, "det", "detection.slot")

        async def one(index: int, image: pb.Image) -> pb.DetectResult:
            img, decode_ms = await self._decode(index, image)
            started = time.perf_counter()
            detected = await self._pipeline.detect(img, params, slot, req)
            det_ms = (time.perf_counter() - started) * 1000
            families.IMAGE_BOXES.observe(len(detected.value))
            result = pb.DetectResult(id=image.id, width=img.shape[1], height=img.shape[0],
                                     boxes=[convert.text_box(b) for b in detected.value],
                                     models=convert.model_refs(detected.models))
            if request.return_timings:
                result.timings.CopyFrom(convert.timings(Timings(det_ms=det_ms), decode_ms,
                                                        decode_ms + det_ms))
            return result

        results = await self._each_image(request, request.images, one, pb.DetectResult,
                                         params)
        return pb.DetectResponse(results=results)

    async def Classify(self, request: pb.ClassifyRequest, context: aio.ServicerContext
                       ) -> pb.ClassifyResponse:
        req = request_context(context, request.priority)
        slot = convert.slot_name(request.classification.slot, "cls", "classification.slot")
        thresh = convert.cls_thresh(request.classification, self._settings)
        check_unit_interval("classification.thresh", thresh)
        self._pipeline.slot(slot, "cls", "classification.slot")

        async def one(index: int, image: pb.Image) -> pb.Classification:
            crop, _ = await self._decode(index, image)
            classified = await self._pipeline.classify([crop], slot, req, thresh)
            result = convert.classification(classified.value[0], image.id)
            result.models.extend(convert.model_refs(classified.models))
            return result

        results = await self._each_image(request, request.images, one, pb.Classification)
        return pb.ClassifyResponse(results=results)

    async def Recognize(self, request: pb.RecognizeRequest, context: aio.ServicerContext
                        ) -> pb.RecognizeResponse:
        req = request_context(context, request.priority)
        slot = convert.slot_name(request.slot, "rec", "slot")
        self._pipeline.slot(slot, "rec", "slot")

        async def one(index: int, image: pb.Image) -> pb.Recognition:
            crop, _ = await self._decode(index, image)
            recognized = await self._pipeline.recognize([crop], slot, req)
            ((text, score),) = recognized.value
            return pb.Recognition(id=image.id, text=text, score=score,
                                  models=convert.model_refs(recognized.models))

        results = await self._each_image(request, request.images, one, pb.Recognition)
        return pb.RecognizeResponse(results=results)

    async def Ocr(self, request: pb.OcrRequest, context: aio.ServicerContext) -> pb.OcrResponse:
        req = request_context(context, request.priority)
        params = self._ocr_params(request)

        crops = [0]

        async def one(index: int, image: pb.Image) -> pb.OcrResult:
            img, decode_ms = await self._decode(index, image)
            cost = Timings()
            result = await self._ocr_decoded(img, image.id, decode_ms, params, req,
                                             request.return_timings, cost)
            crops[0] += cost.boxes
            return result

        results = await self._each_image(request, request.images, one, pb.OcrResult,
                                         params.det)
        families.REQUEST_CROPS.observe(crops[0])
        return pb.OcrResponse(results=results)

    async def StreamOcr(self, request_iterator: AsyncIterator[pb.StreamOcrRequest],
                        context: aio.ServicerContext) -> AsyncIterator[pb.StreamOcrResponse]:
        stream = FrameStream(
            decode=lambda image: self._decode(0, image), ocr=self._ocr_decoded,
            resolve_params=self._ocr_params, admit=self._admission.admit, cost=self._cost,
            counters=self.streams, max_in_flight=self._settings.stream_max_in_flight)
        async for response in stream.serve(request_iterator):
            yield response

    def _ocr_params(self, request: pb.OcrRequest | pb.StreamConfig) -> OcrParams:
        """An Ocr request's (or a stream's) parameters, its slots checked.  The angle
        classifier runs by default only where there is one."""
        explicit_cls = request.HasField("use_angle_cls")
        params = convert.ocr_params(
            self._settings, request.detection, request.classification, request.recognition,
            request.use_angle_cls if explicit_cls else None)
        self._pipeline.slot(params.det_slot, "det", "detection.slot")
        self._pipeline.slot(params.rec_slot, "rec", "recognition.slot")
        if params.use_angle_cls and not self._pipeline.has_slot(params.cls_slot):
            if explicit_cls or request.classification.slot:  # asked for: it must exist
                self._pipeline.slot(params.cls_slot, "cls", "classification.slot")
            params = dataclasses.replace(params, use_angle_cls=False)
        return params

    async def _ocr_decoded(self, img: np.ndarray, image_id: str, decode_ms: float,
                           params: OcrParams, req: Request, return_timings: bool,
                           stage_times: Timings | None = None) -> pb.OcrResult:
        """One decoded image's OCR; ``stage_times`` (if given) receives what it cost."""
        started = time.perf_counter()
        stage_times = Timings() if stage_times is None else stage_times
        output = await self._pipeline.ocr(img, params, req, stage_times)
        families.IMAGE_BOXES.observe(stage_times.boxes)
        total_ms = decode_ms + (time.perf_counter() - started) * 1000
        with cpu_of("response"):
            result = pb.OcrResult(id=image_id, width=img.shape[1], height=img.shape[0],
                                  lines=[convert.text_line(x) for x in output.value],
                                  models=convert.model_refs(output.models))
            if return_timings:
                result.timings.CopyFrom(convert.timings(stage_times, decode_ms, total_ms))
        return result

    async def GetServerInfo(self, request: pb.GetServerInfoRequest,
                            context: aio.ServicerContext) -> pb.ServerInfo:
        settings = self._settings
        slots = self._inference.slots()
        catalog = load_catalog()
        served = [
            pb.ServedSlot(
                model=pb.ModelRef(stage=info.kind, slot=info.slot, name=info.model,
                                  version=info.version),
                language=(catalog[info.model].language or "")
                if info.kind == "rec" and info.model in catalog else "",
                ready=info.state == "READY")
            for info in slots.values()
        ]
        defaults = pb.Defaults(
            detection=convert.detection_defaults(settings.detection_defaults(), "det"),
            classification=pb.ClassificationParams(slot="cls", thresh=settings.cls_thresh),
            recognition=pb.RecognitionParams(slot="rec", drop_score=settings.drop_score),
            use_angle_cls=settings.use_angle_cls and "cls" in slots,
        )
        limits = pb.Limits(max_message_bytes=settings.max_message_mb * 1024 * 1024,
                           max_image_pixels=settings.max_image_pixels,
                           max_images_per_request=settings.max_images_per_request,
                           max_rec_width=REC_MAX_WIDTH,
                           max_request_pixels=settings.max_request_pixels,
                           det_max_side_len=settings.det_max_side_len,
                           det_max_pixels=settings.det_max_pixels,
                           max_crops_per_image=settings.max_crops_per_image,
                           stream_max_in_flight=settings.stream_max_in_flight)
        cache = self.cache.stats()
        response_cache = pb.ResponseCacheStats(
            enabled=self.cache.enabled, max_bytes=cache.max_bytes, bytes=cache.bytes,
            entries=cache.entries, hits=cache.hits, misses=cache.misses,
            evictions=cache.evictions)
        return pb.ServerInfo(server_version=__version__, api_version=API_VERSION,
                             limits=limits, defaults=defaults, slots=served,
                             response_cache=response_cache, streams=self.streams.stats())


__all__ = ["API_VERSION", "OcrServicer", "per_image"]
