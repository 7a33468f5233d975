"""The asyncio client: :class:`ocrclient.OcrClient`'s methods as coroutines.

    async with AsyncOcrClient("127.0.0.1:50051") as client:
        results = await client.ocr(["a.png", "b.png"])

Create it inside the event loop that will use it (grpc.aio channels belong to
one loop).  Requests, parameters, results, errors and retries are exactly the
sync client's: both build their calls in ``_core`` and only the waiting
differs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from types import TracebackType
from typing import Any, TypeVar, Unpack

import grpc
import grpc.aio

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


class AsyncOcrClient(_core.ClientBase):
    """Asynchronous client; same arguments as :class:`ocrclient.OcrClient`."""

    _channels = grpc.aio

    async def ocr(self, images: Iterable[ImageLike], *, channel_order: ChannelOrder = "bgr",
                  **kwargs: Unpack[OcrArgs]) -> list[OcrResult]:
        """Detect, classify (optionally) and recognise the text of each image."""
        return await self._run(_core.ocr_call(images, channel_order, kwargs, self.strict))

    async def ocr_one(self, image: ImageLike, *, channel_order: ChannelOrder = "bgr",
                      **kwargs: Unpack[OcrArgs]) -> OcrResult:
        """:meth:`ocr` for a single image; its error, if any, is raised."""
        return _core.only_result(await self.ocr([image], channel_order=channel_order,
                                                **kwargs))

    async def detect(self, images: Iterable[ImageLike], *, channel_order: ChannelOrder = "bgr",
                     **kwargs: Unpack[DetectArgs]) -> list[DetectResult]:
        """Find the text boxes of each image."""
        return await self._run(_core.detect_call(images, channel_order, kwargs, self.strict))

    async def classify(self, images: Iterable[ImageLike], *,
                       channel_order: ChannelOrder = "bgr",
                       **kwargs: Unpack[ClassifyArgs]) -> list[Classification]:
        """Orientation (0 or 180) of already-cropped text lines."""
        return await self._run(_core.classify_call(images, channel_order, kwargs,
                                                   self.strict))

    async def recognize(self, images: Iterable[ImageLike], *,
                        channel_order: ChannelOrder = "bgr",
                        **kwargs: Unpack[RecognizeArgs]) -> list[Recognition]:
        """Text of already-cropped, horizontal text lines."""
        return await self._run(_core.recognize_call(images, channel_order, kwargs,
                                                    self.strict))

    def stream(self, frames: Iterable[Frame | ImageLike] | AsyncIterable[Frame | ImageLike],
               *, channel_order: ChannelOrder = "bgr", **kwargs: Unpack[StreamArgs]
               ) -> AsyncIterator[FrameResult]:
        """``async for result in client.stream(frames, ...)``: the sync client's
        ``stream`` (same semantics); ``frames`` may also be an async iterable."""
        config, call_kwargs = self._stream_call(kwargs)
        return self._stream(_core.FrameSource(config, channel_order), frames, call_kwargs)

    async def _stream(self, source: _core.FrameSource,
                      frames: Iterable[Frame | ImageLike] | AsyncIterable[Frame | ImageLike],
                      call_kwargs: dict[str, Any]) -> AsyncIterator[FrameResult]:
        call = self._stubs["ocr"].StreamOcr(source.arequests(frames), **call_kwargs)
        try:
            async for message in call:
                yield frame_result_from_proto(message)
        except grpc.RpcError as exc:
            source.raise_error()
            raise from_rpc_error(exc) from exc
        finally:
            call.cancel()
        source.raise_error()

    async def get_server_info(self, **options: Unpack[CallOptions]) -> ServerInfo:
        """Versions, limits, effective parameter defaults and slots of the server."""
        return await self._run(_core.server_info_call(options))

    async def health(self, service: str = "", **options: Unpack[CallOptions]) -> str:
        """Serving status of ``service`` ("" = the whole server): e.g. "SERVING"."""
        return await self._run(_core.health_call(service, options))

    async def list_catalog(self, **options: Unpack[CallOptions]) -> list[CatalogModel]:
        """Every model the server knows of, with its installed versions."""
        return await self._run(_core.catalog_call(options))

    async def list_slots(self, **options: Unpack[CallOptions]) -> list[SlotStatus]:
        """The server's slots and what each serves."""
        return await self._run(_core.slots_call(options))

    async def close(self) -> None:
        """Close the channel, unless the caller passed it in."""
        if self._owns_channel:
            await self._channel.close()

    async def __aenter__(self) -> AsyncOcrClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def _run(self, call: _core.Call[T]) -> T:
        method = self._method(call)
        kwargs = self._call_kwargs(call)
        attempts = self.retry_policy.start(self._timeout(call))
        while True:
            try:
                response = await method(call.request, timeout=attempts.next_timeout(),
                                        **kwargs)
            except grpc.RpcError as exc:
                error = from_rpc_error(exc)
                delay = attempts.delay_after(error)
                if delay is None:
                    raise error from exc
                await asyncio.sleep(delay)
            else:
                return call.parse(response)
