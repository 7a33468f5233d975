"""The blocking client.

    with OcrClient("127.0.0.1:50051") as client:
        for line in client.ocr_one("page.png").lines:
            print(line.score, line.text)

Every method sends one request: all images in one batch, one result per image
in the same order.  Parameters left out take the server's defaults (see
``_params.py`` for the names).  Failures raise :class:`OcrClientError`
subclasses; UNAVAILABLE is retried within the call's timeout.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from types import TracebackType
from typing import TypeVar, Unpack

import grpc

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


class OcrClient(_core.ClientBase):
    """Synchronous client; see :class:`ocrclient._core.ClientBase` for the arguments.

    ``timeout`` on a method overrides the client's for that call.
    ``channel_order`` says how numpy colour arrays are laid out ("bgr", as
    OpenCV reads them, or "rgb").
    """

    _new_channel = staticmethod(grpc.insecure_channel)

    def ocr(self, images: Iterable[ImageLike], *, channel_order: ChannelOrder = "bgr",
            timeout: float | None = None, **params: Unpack[OcrParams]) -> list[OcrResult]:
        """Detect, classify (optionally) and recognise the text of each image."""
        return self._run(_core.ocr_call(images, channel_order, params), timeout)

    def ocr_one(self, image: ImageLike, *, channel_order: ChannelOrder = "bgr",
                timeout: float | None = None, **params: Unpack[OcrParams]) -> OcrResult:
        """:meth:`ocr` for a single image."""
        return self.ocr([image], channel_order=channel_order, timeout=timeout, **params)[0]

    def detect(self, images: Iterable[ImageLike], *, channel_order: ChannelOrder = "bgr",
               timeout: float | None = None, **params: Unpack[DetectParams]
               ) -> list[DetectResult]:
        """Find the text boxes of each image."""
        return self._run(_core.detect_call(images, channel_order, params), timeout)

    def classify(self, images: Iterable[ImageLike], *, channel_order: ChannelOrder = "bgr",
                 timeout: float | None = None, **params: Unpack[ClassifyParams]
                 ) -> list[Classification]:
        """Orientation (0 or 180) of already-cropped text lines."""
        return self._run(_core.classify_call(images, channel_order, params), timeout)

    def recognize(self, images: Iterable[ImageLike], *, channel_order: ChannelOrder = "bgr",
                  timeout: float | None = None, **params: Unpack[RecognizeParams]
                  ) -> list[Recognition]:
        """Text of already-cropped, horizontal text lines."""
        return self._run(_core.recognize_call(images, channel_order, params), timeout)

    def health(self, service: str = "", *, timeout: float | None = None) -> str:
        """Serving status of ``service`` ("" = the whole server): e.g. "SERVING"."""
        return self._run(_core.health_call(service), timeout)

    def list_catalog(self, *, timeout: float | None = None) -> list[CatalogModel]:
        """Every model the server knows of, with its installed versions."""
        return self._run(_core.catalog_call(), timeout)

    def list_slots(self, *, timeout: float | None = None) -> list[SlotStatus]:
        """The server's slots and what each serves."""
        return self._run(_core.slots_call(), timeout)

    def close(self) -> None:
        """Close the channel, unless the caller passed it in."""
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> OcrClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _run(self, call: _core.Call[T], timeout: float | None) -> T:
        method = self._method(call)
        attempts = self.retry_policy.start(self._call_timeout(timeout))
        while True:
            try:
                response = method(call.request, timeout=attempts.next_timeout())
            except grpc.RpcError as exc:
                error = from_rpc_error(exc)
                delay = attempts.delay_after(error)
                if delay is None:
                    raise error from exc
                time.sleep(delay)
            else:
                return call.parse(response)
