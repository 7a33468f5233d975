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
from collections.abc import Iterable
from types import TracebackType
from typing import TypeVar, Unpack

import grpc
import grpc.aio

from ocrclient import _core
from ocrclient._errors import from_rpc_error
from ocrclient._images import ChannelOrder, ImageLike
from ocrclient._params import ClassifyParams, DetectParams, OcrParams, RecognizeParams
from ocrclient._types import (
    CatalogModel,
    Classification,
    DetectResult,
    OcrResult,
    Recognition,
    SlotStatus,
)

T = TypeVar("T")


class AsyncOcrClient(_core.ClientBase):
    """Asynchronous client; same arguments as :class:`ocrclient.OcrClient`."""

    _new_channel = staticmethod(grpc.aio.insecure_channel)

    async def ocr(self, images: Iterable[ImageLike], *, channel_order: ChannelOrder = "bgr",
                  timeout: float | None = None, **params: Unpack[OcrParams]
                  ) -> list[OcrResult]:
        """Detect, classify (optionally) and recognise the text of each image."""
        return await self._run(_core.ocr_call(images, channel_order, params), timeout)

    async def ocr_one(self, image: ImageLike, *, channel_order: ChannelOrder = "bgr",
                      timeout: float | None = None, **params: Unpack[OcrParams]) -> OcrResult:
        """:meth:`ocr` for a single image."""
        results = await self.ocr([image], channel_order=channel_order, timeout=timeout,
                                 **params)
        return results[0]

    async def detect(self, images: Iterable[ImageLike], *, channel_order: ChannelOrder = "bgr",
                     timeout: float | None = None, **params: Unpack[DetectParams]
                     ) -> list[DetectResult]:
        """Find the text boxes of each image."""
        return await self._run(_core.detect_call(images, channel_order, params), timeout)

    async def classify(self, images: Iterable[ImageLike], *,
                       channel_order: ChannelOrder = "bgr", timeout: float | None = None,
                       **params: Unpack[ClassifyParams]) -> list[Classification]:
        """Orientation (0 or 180) of already-cropped text lines."""
        return await self._run(_core.classify_call(images, channel_order, params), timeout)

    async def recognize(self, images: Iterable[ImageLike], *,
                        channel_order: ChannelOrder = "bgr", timeout: float | None = None,
                        **params: Unpack[RecognizeParams]) -> list[Recognition]:
        """Text of already-cropped, horizontal text lines."""
        return await self._run(_core.recognize_call(images, channel_order, params), timeout)

    async def health(self, service: str = "", *, timeout: float | None = None) -> str:
        """Serving status of ``service`` ("" = the whole server): e.g. "SERVING"."""
        return await self._run(_core.health_call(service), timeout)

    async def list_catalog(self, *, timeout: float | None = None) -> list[CatalogModel]:
        """Every model the server knows of, with its installed versions."""
        return await self._run(_core.catalog_call(), timeout)

    async def list_slots(self, *, timeout: float | None = None) -> list[SlotStatus]:
        """The server's slots and what each serves."""
        return await self._run(_core.slots_call(), timeout)

    async def close(self) -> None:
        """Close the channel, unless the caller passed it in."""
        if self._owns_channel:
            await self._channel.close()

    async def __aenter__(self) -> AsyncOcrClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def _run(self, call: _core.Call[T], timeout: float | None) -> T:
        method = self._method(call)
        attempts = self.retry_policy.start(self._call_timeout(timeout))
        while True:
            try:
                response = await method(call.request, timeout=attempts.next_timeout())
            except grpc.RpcError as exc:
                error = from_rpc_error(exc)
                delay = attempts.delay_after(error)
                if delay is None:
                    raise error from exc
                await asyncio.sleep(delay)
            else:
                return call.parse(response)
