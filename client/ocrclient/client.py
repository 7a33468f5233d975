"""The blocking client.

    with OcrClient("127.0.0.1:50051") as client:
        for line in client.ocr_one("page.png").lines:
            print(line.score, line.text)

Every image method sends one request: all images in one batch, one result per
image in the same order.  An image the server could not handle has its
``error`` set and the others succeed; ``strict=True`` (per call or per client)
raises that error instead, and the ``*_one`` methods always raise it.
Parameters left out take the server's defaults (see ``_params.py`` for the
names; ``CallOptions`` for ``timeout``, ``metadata``, ``wait_for_ready``,
``request_id`` and ``strict``).  Failures raise :class:`OcrClientError`
subclasses; what is safe to retry is retried within the call's timeout.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, TypeVar, Unpack

import grpc

from ocrclient import _core
from ocrclient._errors import from_rpc_error
from ocrclient._images import ChannelOrder, ImageLike
from ocrclient._params import (
    CallOptions,
    ClassifyArgs,
    DetectArgs,
    OcrArgs,
    RecognizeArgs,
    StreamArgs,
)
from ocrclient._types import (
    CatalogModel,
    Classification,
    DetectResult,
    Frame,
    FrameResult,
    OcrResult,
    Recognition,
    ServerInfo,
    SlotStatus,
    frame_result_from_proto,
)

T = TypeVar("T")


class OcrClient(_core.ClientBase):
    """Synchronous client; see :class:`ocrclient._core.ClientBase` for the arguments.

    ``channel_order`` says how numpy colour arrays are laid out ("bgr", as
    OpenCV reads them, or "rgb").
    """

    _channels = grpc

    def ocr(self, images: Iterable[ImageLike], *, channel_order: ChannelOrder = "bgr",
            **kwargs: Unpack[OcrArgs]) -> list[OcrResult]:
        """Detect, classify (optionally) and recognise the text of each image."""
        return self._run(_core.ocr_call(images, channel_order, kwargs, self.strict))

    def ocr_one(self, image: ImageLike, *, channel_order: ChannelOrder = "bgr",
                **kwargs: Unpack[OcrArgs]) -> OcrResult:
        """:meth:`ocr` for a single image; its error, if any, is raised."""
        return _core.only_result(self.ocr([image], channel_order=channel_order, **kwargs))

    def detect(self, images: Iterable[ImageLike], *, channel_order: ChannelOrder = "bgr",
               **kwargs: Unpack[DetectArgs]) -> list[DetectResult]:
        """Find the text boxes of each image."""
        return self._run(_core.detect_call(images, channel_order, kwargs, self.strict))

    def classify(self, images: Iterable[ImageLike], *, channel_order: ChannelOrder = "bgr",
                 **kwargs: Unpack[ClassifyArgs]) -> list[Classification]:
        """Orientation (0 or 180) of already-cropped text lines."""
        return self._run(_core.classify_call(images, channel_order, kwargs, self.strict))

    def recognize(self, images: Iterable[ImageLike], *, channel_order: ChannelOrder = "bgr",
                  **kwargs: Unpack[RecognizeArgs]) -> list[Recognition]:
        """Text of already-cropped, horizontal text lines."""
        return self._run(_core.recognize_call(images, channel_order, kwargs, self.strict))

    def stream(self, frames: Iterable[Frame | ImageLike], *, channel_order: ChannelOrder = "bgr",
               **kwargs: Unpack[StreamArgs]) -> Iterator[FrameResult]:
        """Full OCR of a video: one StreamOcr call, one result per frame, in frame order.

        ``frames`` may be endless (a camera); it is read as the server takes frames.
        Pacing: ``max_in_flight`` frames processed at once; ``overload="latest"``
        (default) drops a waiting frame when a newer one comes, ``"block"`` holds
        the sender back instead; ``max_staleness_s``; ``dedup_threshold`` reuses
        the last processed frame's lines for a nearly identical frame.  A frame's
        own failure is in its result and the stream goes on.  No retries, and no
        timeout unless ``timeout`` is given.  Leaving the loop early (``break``)
        cancels the call and frees what the server holds for it.
        """
        config, call_kwargs = self._stream_call(kwargs)
        return self._stream(_core.FrameSource(config, channel_order), frames, call_kwargs)

    def _stream(self, source: _core.FrameSource, frames: Iterable[Frame | ImageLike],
                call_kwargs: dict[str, Any]) -> Iterator[FrameResult]:
        call = self._stubs["ocr"].StreamOcr(source.requests(frames), **call_kwargs)
        try:
            for message in call:
                yield frame_result_from_proto(message)
        except grpc.RpcError as exc:
            source.raise_error()
            raise from_rpc_error(exc) from exc
        finally:
            call.cancel()
            source.stop()
        source.raise_error()

    def get_server_info(self, **options: Unpack[CallOptions]) -> ServerInfo:
        """Versions, limits, effective parameter defaults and slots of the server."""
        return self._run(_core.server_info_call(options))

    def health(self, service: str = "", **options: Unpack[CallOptions]) -> str:
        """Serving status of ``service`` ("" = the whole server): e.g. "SERVING"."""
        return self._run(_core.health_call(service, options))

    def list_catalog(self, **options: Unpack[CallOptions]) -> list[CatalogModel]:
        """Every model the server knows of, with its installed versions."""
        return self._run(_core.catalog_call(options))

    def list_slots(self, **options: Unpack[CallOptions]) -> list[SlotStatus]:
        """The server's slots and what each serves."""
        return self._run(_core.slots_call(options))

    def close(self) -> None:
        """Close the channel, unless the caller passed it in."""
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> OcrClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _run(self, call: _core.Call[T]) -> T:
        method = self._method(call)
        kwargs = self._call_kwargs(call)
        attempts = self.retry_policy.start(self._timeout(call))
        while True:
            try:
                response = method(call.request, timeout=attempts.next_timeout(), **kwargs)
            except grpc.RpcError as exc:
                error = from_rpc_error(exc)
                delay = attempts.delay_after(error)
                if delay is None:
                    raise error from exc
                time.sleep(delay)
            else:
                return call.parse(response)
