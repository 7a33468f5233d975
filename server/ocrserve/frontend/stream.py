"""StreamOcr: full OCR of a stream of video frames, one response per frame.

One :class:`FrameStream` serves one call.  A reader task reads the caller's
messages (a config first, then frames and maybe new configs) and offers each
frame to a :class:`~ocrserve.frontend.frame_scheduler.FrameScheduler`, which
paces them (``max_in_flight``, the overload policy, staleness) and puts the
responses back in frame order.  Processing a frame is the unary ``Ocr``
path, so frames of every stream and unary requests meet in the engine's
batches, and it goes through the front-end's admission budget like a request.

Dedup: with a threshold, the reader decodes each frame and compares it
(``ops/frame_diff.py``) with the last frame chosen for the models, in frame
order, before the frame is offered to the scheduler.  Close enough, it is a
repeat: it takes no place among ``max_in_flight``, cannot be superseded, and
gets that frame's lines (when they are ready) and status DEDUPED instead of a
second run of the models.  Deciding this before a frame waits for a place
matters under ``latest``: a repeat that waited for one was superseded by the
next frame, though it would have cost nothing, and 24 streams of a mostly still
video were answered at 2.5 frames/s each on 2 cores, 12.3 since (BENCHMARKS.md,
"Video streams").  A
repeat of a frame that is dropped is dropped with it (its content was
superseded too); one of a frame that failed runs the models itself.  A frame
that did change runs detection again, but its lines whose crops are exactly
those of an earlier frame reuse their angle and text (``output_memo.py``).

A frame's own failure, whatever it is, is its response (FAILED, with the
google.rpc.Status a unary call would have got) and the stream goes on.  Only a
bad stream (no config first, a config out of range) fails the call.  When the
caller cancels or goes away, gRPC cancels the handler and everything the
stream started is cancelled with it, engine work included.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ocrclient.proto.ocr.v1 import ocr_pb2 as pb
from ocrserve.engine.policy import Priority
from ocrserve.errors import InvalidInput, OcrError, Reason
from ocrserve.frontend import convert
from ocrserve.frontend.errors import status_of
from ocrserve.frontend.frame_scheduler import DropReason, FrameScheduler, Pacing, Policy
from ocrserve.metrics import families
from ocrserve.ops import frame_diff
from ocrserve.ops.det import DetParams
from ocrserve.output_memo import FrameMemo, OutputMemo
from ocrserve.pipeline import OcrParams, Request, check_unit_interval

log = logging.getLogger(__name__)

#: max_in_flight when a config leaves it 0: one frame's det overlaps the previous
#: frame's rec.
DEFAULT_MAX_IN_FLIGHT = 2

_POLICIES = {pb.OVERLOAD_POLICY_UNSPECIFIED: Policy.LATEST,
             pb.OVERLOAD_POLICY_LATEST: Policy.LATEST, pb.OVERLOAD_POLICY_BLOCK: Policy.BLOCK}


@dataclass(frozen=True)
class StreamConfig:
    """A stream's config as the server uses it, validated."""

    params: OcrParams
    pacing: Pacing
    dedup_threshold: float
    priority: Priority
    return_timings: bool


@dataclass
class StreamCounters:
    """The streams of one front-end process (GetServerInfo's StreamStats)."""

    processed: int = 0
    dropped: int = 0
    deduped: int = 0
    failed: int = 0
    open: set[FrameScheduler[_Pending, pb.StreamOcrResponse]] = field(default_factory=set)

    def count(self, status: int) -> None:
        name = pb.FrameStatus.Name(status).removeprefix("FRAME_STATUS_").lower()
        setattr(self, name, getattr(self, name) + 1)
        families.STREAM_FRAMES.labels(name).inc()

    def stats(self) -> pb.StreamStats:
        return pb.StreamStats(active_streams=len(self.open),
                              frames_in_server=sum(s.in_server for s in self.open),
                              processed=self.processed, dropped=self.dropped,
                              deduped=self.deduped, failed=self.failed)


@dataclass(eq=False)
class _Reference:
    """A frame chosen for the models: what the next frames are compared with.  Its
    ``result`` is cancelled when it fails or is dropped (``dropped`` says why)."""

    frame_id: int
    thumbnail: frame_diff.Thumbnail
    result: asyncio.Future[pb.OcrResult]
    dropped: DropReason | None = None


@dataclass(eq=False)
class _Pending:
    """A frame, and what screening (dedup on) found out about it before it was offered."""

    frame: pb.Frame
    config: StreamConfig
    received: float
    image: np.ndarray | None = None  # decoded by screening
    decode_ms: float = 0.0
    failure: Exception | None = None  # screening failed: the frame's response says why
    repeats: _Reference | None = None  # the frame it repeats: its response is DEDUPED
    reference: _Reference | None = None  # the frames after it may repeat it


#: What a stream needs of the servicer: decode an image (BGR, decode ms) ...
Decode = Callable[[pb.Image], Awaitable[tuple[np.ndarray, float]]]
#: ... OCR a decoded one (image, id, decode ms, params, request, with timings) ...
Recognize = Callable[[np.ndarray, str, float, OcrParams, Request, bool], Awaitable[pb.OcrResult]]
#: ... resolve parameters as the unary Ocr does, and admit work (pixels) ...
ResolveParams = Callable[[pb.StreamConfig], OcrParams]
Admit = Callable[[int], contextlib.AbstractContextManager[None]]
#: ... that costs these pixels (images, the detection parameters if they go through it)
Cost = Callable[[Sequence[pb.Image], DetParams | None], int]


class FrameStream:
    def __init__(self, *, decode: Decode, ocr: Recognize, resolve_params: ResolveParams,
                 admit: Admit, cost: Cost, counters: StreamCounters, max_in_flight: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._decode = decode
        self._ocr = ocr
        self._resolve_params = resolve_params
        self._admit = admit
        self._counters = counters
        self._max_in_flight = max_in_flight
        self._cost = cost
        self._clock = clock
        #: The last frame screened and chosen for the models: the next frames' reference.
        self._reference: _Reference | None = None
        #: cls and rec outputs of this stream's recent lines, by exact input.
        self._memo = OutputMemo()

    async def serve(self, requests: AsyncIterator[pb.StreamOcrRequest]
                    ) -> AsyncIterator[pb.StreamOcrResponse]:
        first = await anext(aiter(requests), None)
        if first is None:
            return
        if first.WhichOneof("message") != "config":
            raise InvalidInput("the first message of a stream must be a config",
                               reason=Reason.PARAMETER_INVALID, field="config")
        config = self.parse_config(first.config)
        scheduler: FrameScheduler[_Pending, pb.StreamOcrResponse] = FrameScheduler(
            self._process, self._dropped)
        reader = asyncio.create_task(self._read(requests, scheduler, config))
        self._counters.open.add(scheduler)
        families.STREAMS_ACTIVE.inc()
        try:
            async for response in scheduler.responses():
                self._counters.count(response.status)
                yield response
            await reader  # a bad config mid-stream fails the call after the frames before it
        finally:
            self._counters.open.discard(scheduler)
            families.STREAMS_ACTIVE.dec()
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await scheduler.close()

    def parse_config(self, msg: pb.StreamConfig) -> StreamConfig:
        limit = self._max_in_flight
        in_flight = msg.max_in_flight or min(DEFAULT_MAX_IN_FLIGHT, limit)
        if in_flight > limit:
            raise InvalidInput(
                f"max_in_flight {in_flight} is over the server's limit {limit} "
                "(stream_max_in_flight)", reason=Reason.PARAMETER_OUT_OF_RANGE,
                field="config.max_in_flight", metadata={"limit": limit, "value": in_flight})
        if msg.overload not in _POLICIES:
            raise InvalidInput(f"unknown overload policy {msg.overload}",
                               field="config.overload", metadata={"value": msg.overload})
        if not msg.max_staleness_s >= 0:  # NaN too: it would mean "never stale"
            raise InvalidInput(f"max_staleness_s must be >= 0, got {msg.max_staleness_s:g}",
                               reason=Reason.PARAMETER_OUT_OF_RANGE,
                               field="config.max_staleness_s")
        check_unit_interval("config.dedup_threshold", msg.dedup_threshold)
        return StreamConfig(
            params=self._resolve_params(msg),
            pacing=Pacing(_POLICIES[msg.overload], in_flight, msg.max_staleness_s),
            dedup_threshold=msg.dedup_threshold, priority=convert.priority(msg.priority),
            return_timings=msg.return_timings)

    async def _read(self, requests: AsyncIterator[pb.StreamOcrRequest],
                    scheduler: FrameScheduler[_Pending, pb.StreamOcrResponse],
                    config: StreamConfig) -> None:
        try:
            async for msg in requests:
                kind = msg.WhichOneof("message")
                if kind == "config":
                    config = self.parse_config(msg.config)
                elif kind == "frame":
                    pending = _Pending(msg.frame, config, self._clock())
                    needs_place = await self._screen(pending)
                    await scheduler.offer(pending, config.pacing, needs_place=needs_place)
                else:
                    raise InvalidInput("a StreamOcrRequest must hold a config or a frame",
                                       field="message")
        finally:
            scheduler.finish()

    # -------------------------------------------------------------- frames

    def _response(self, pending: _Pending, status: pb.FrameStatus,
                  result: pb.OcrResult | None = None, *, drop_reason: str = "",
                  deduped_from: int = 0, reused_crops: int = 0) -> pb.StreamOcrResponse:
        frame = pending.frame
        return pb.StreamOcrResponse(
            frame_id=frame.frame_id, timestamp_s=frame.timestamp_s, status=status,
            latency_ms=(self._clock() - pending.received) * 1000, result=result,
            drop_reason=drop_reason, deduped_from=deduped_from, reused_crops=reused_crops)

    def _dropped(self, pending: _Pending, why: DropReason) -> pb.StreamOcrResponse:
        if pending.reference is not None:  # its repeats are dropped with it
            pending.reference.dropped = why
            pending.reference.result.cancel()
        return self._response(pending, pb.FRAME_STATUS_DROPPED, drop_reason=str(why))

    async def _screen(self, pending: _Pending) -> bool:
        """With dedup on, decode the frame and decide, in frame order, whether it repeats
        the last frame chosen for the models (see the module docstring).  Returns whether
        it needs a place among ``max_in_flight``: not a repeat, nor a frame that failed
        here (its failure is its response)."""
        threshold = pending.config.dedup_threshold
        if threshold <= 0:
            self._reference = None  # frames processed without dedup are no reference
            return True
        image = pending.frame.image
        try:
            with self._admit_frame(image):
                pending.image, pending.decode_ms = await self._decode(image)
            thumb = await asyncio.to_thread(frame_diff.thumbnail, pending.image)
        except Exception as exc:  # _process makes it the frame's response
            pending.failure = exc  # and the next frames keep the reference they had
            return False
        reference = self._reference
        if (reference is not None and not reference.result.cancelled()
                and frame_diff.difference(thumb, reference.thumbnail) < threshold):
            pending.repeats, pending.image = reference, None  # decoded again if need be
            return False
        pending.reference = self._reference = _Reference(
            pending.frame.frame_id, thumb, asyncio.get_running_loop().create_future())
        return True

    async def _process(self, pending: _Pending) -> pb.StreamOcrResponse:
        reference = pending.reference
        try:
            if pending.failure is not None:
                raise pending.failure
            if pending.repeats is not None:
                return await self._deduped(pending, pending.repeats)
            result, reused = await self._run_models(pending)
            if reference is not None:
                reference.result.set_result(result)
        except OcrError as exc:
            if exc.field:
                exc.field = exc.field.replace("images[0]", "frame.image", 1)
            log.info("frame %d failed: %s: %s", pending.frame.frame_id, exc.reason, exc)
            return self._failed(pending, exc)
        except Exception as exc:  # a bug on one frame: that frame fails, not the stream
            log.exception("frame %d: unexpected error", pending.frame.frame_id)
            return self._failed(pending, OcrError(f"unexpected {type(exc).__name__}: {exc}"))
        finally:
            if reference is not None and not reference.result.done():
                reference.result.cancel()  # failed: frames that repeat it run on their own
        return self._response(pending, pb.FRAME_STATUS_PROCESSED, result, reused_crops=reused)

    async def _run_models(self, pending: _Pending) -> tuple[pb.OcrResult, int]:
        """The frame's OCR (decoded first unless screening did), and how many of its
        crops the memo answered."""
        config, image = pending.config, pending.frame.image
        with self._admit_frame(image, config.params.det):
            img, decode_ms = pending.image, pending.decode_ms
            if img is None:
                img, decode_ms = await self._decode(image)
            pending.image = None  # held no longer than needed
            memo = FrameMemo(self._memo)
            result = await self._ocr(img, image.id, decode_ms, config.params,
                                     Request(priority=config.priority, memo=memo),
                                     config.return_timings)
        return result, memo.reused.get("rec", 0)

    def _admit_frame(self, image: pb.Image, det: DetParams | None = None
                     ) -> contextlib.AbstractContextManager[None]:
        """The front-end's admission for a frame's pixels (read from its header), as for
        a one-image request; ``det``: the frame goes through the detector."""
        return self._admit(self._cost([image], det))

    async def _deduped(self, pending: _Pending, reference: _Reference
                       ) -> pb.StreamOcrResponse:
        try:
            source = await asyncio.shield(reference.result)
        except asyncio.CancelledError:
            if not reference.result.cancelled():
                raise  # this frame itself was cancelled
            if reference.dropped is not None:
                return self._response(pending, pb.FRAME_STATUS_DROPPED,
                                      drop_reason=str(reference.dropped))
            # The frame it repeats failed (perhaps for a passing reason): do the work.
            result, reused = await self._run_models(pending)
            return self._response(pending, pb.FRAME_STATUS_PROCESSED, result,
                                  reused_crops=reused)
        result = pb.OcrResult()
        result.CopyFrom(source)
        result.id = pending.frame.image.id
        result.ClearField("timings")
        return self._response(pending, pb.FRAME_STATUS_DEDUPED, result,
                              deduped_from=reference.frame_id)

    def _failed(self, pending: _Pending, exc: OcrError) -> pb.StreamOcrResponse:
        result = pb.OcrResult(id=pending.frame.image.id, error=status_of(exc))
        return self._response(pending, pb.FRAME_STATUS_FAILED, result)


__all__ = ["FrameStream", "StreamConfig", "StreamCounters"]
