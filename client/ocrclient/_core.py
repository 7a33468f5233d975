"""What the sync and async clients share: everything except the waiting.

Each client method builds a :class:`Call` here (stub method name, request,
response parser), then runs it with its own retry loop: ``client.py`` blocks,
``aio.py`` awaits.  Request building, response parsing, channel options and
constructor arguments exist once.
"""

from __future__ import annotations

import threading
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, Literal, TypeVar

from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ocrclient._errors import REQUEST_ID_KEY, OcrClientError, ServerError
from ocrclient._images import ChannelOrder, ImageLike, to_image, to_images
from ocrclient._params import (
    ClassifyArgs,
    DetectArgs,
    OcrArgs,
    RecognizeArgs,
    StreamArgs,
    classification_params,
    detection_params,
    enum_number,
    priority,
    recognition_params,
    split_options,
)
from ocrclient._retry import DEFAULT_RETRIES, RetryPolicy
from ocrclient._security import Pem, Security
from ocrclient._types import (
    AnyResult,
    CatalogModel,
    Classification,
    DetectResult,
    Frame,
    OcrResult,
    Recognition,
    ServerInfo,
    SlotStatus,
    catalog_model_from_proto,
    classification_from_proto,
    detect_result_from_proto,
    health_status_name,
    ocr_result_from_proto,
    recognition_from_proto,
    server_info_from_proto,
    slot_status_from_proto,
)
from ocrclient.proto.ocr.v1 import models_pb2, models_pb2_grpc, ocr_pb2, ocr_pb2_grpc

T = TypeVar("T")
R = TypeVar("R", bound=AnyResult)
Service = Literal["ocr", "models", "health"]
DEFAULT_TARGET = "127.0.0.1:50051"


@dataclass(frozen=True)
class Call(Generic[T]):
    """One prepared RPC: which stub method, the request, how to read the answer, and
    the per-call options (see ``_params.CallOptions``)."""

    service: Service
    method: str
    request: Message
    parse: Callable[[Any], T]
    options: Mapping[str, Any]


def _per_image(convert: Callable[[Any, int], R], expected: int, strict: bool,
               response: Any) -> list[R]:
    """One result per image sent, in order; anything else is the server's bug.

    ``strict``: raise the first failed image's error instead of returning it.
    """
    if len(response.results) != expected:
        raise ServerError(f"server returned {len(response.results)} results for "
                          f"{expected} images")
    results = [convert(result, index) for index, result in enumerate(response.results)]
    if strict:
        raise_first_error(results)
    return results


def raise_first_error(results: Iterable[AnyResult]) -> None:
    """Raise the error of the first failed result, if any."""
    for result in results:
        if result.error is not None:
            raise result.error


def _images(images: Iterable[ImageLike], channel_order: ChannelOrder) -> list[ocr_pb2.Image]:
    converted = to_images(images, channel_order=channel_order)
    if not converted:
        raise ValueError("no images given")
    return converted


def _image_call(method: str, request: Message, convert: Callable[[Any, int], R],
                options: Mapping[str, Any], default_strict: bool) -> Call[list[R]]:
    count = len(request.images)  # type: ignore[attr-defined]
    strict = bool(options.get("strict", default_strict))
    return Call("ocr", method, request, partial(_per_image, convert, count, strict), options)


def ocr_call(images: Iterable[ImageLike], channel_order: ChannelOrder,
             kwargs: Mapping[str, Any], strict: bool = False) -> Call[list[OcrResult]]:
    params, options = split_options(kwargs, OcrArgs)
    request = ocr_pb2.OcrRequest(
        images=_images(images, channel_order),
        detection=detection_params(params),
        classification=classification_params(params),
        recognition=recognition_params(params),
        return_timings=bool(params.get("return_timings")),
        priority=priority(params),
    )
    if params.get("use_angle_cls") is not None:
        request.use_angle_cls = bool(params["use_angle_cls"])
    return _image_call("Ocr", request, ocr_result_from_proto, options, strict)


def stream_config(params: Mapping[str, Any]) -> ocr_pb2.StreamConfig:
    """A StreamOcr config from :class:`~ocrclient._params.StreamParams` keywords."""
    config = ocr_pb2.StreamConfig(
        detection=detection_params(params),
        classification=classification_params(params),
        recognition=recognition_params(params),
        return_timings=bool(params.get("return_timings")),
        priority=priority(params),
        max_in_flight=int(params.get("max_in_flight") or 0),
        max_staleness_s=float(params.get("max_staleness_s") or 0.0),
        dedup_threshold=float(params.get("dedup_threshold") or 0.0),
        overload=ocr_pb2.OverloadPolicy.Name(enum_number(
            ocr_pb2.OverloadPolicy.DESCRIPTOR, "overload", params.get("overload") or "latest")),
    )
    if params.get("use_angle_cls") is not None:
        config.use_angle_cls = bool(params["use_angle_cls"])
    return config


def frame_request(frame: Frame | ImageLike, index: int, channel_order: ChannelOrder
                  ) -> ocr_pb2.StreamOcrRequest:
    """The message for the ``index``-th frame of a stream (a bare image is a Frame)."""
    if not isinstance(frame, Frame):
        frame = Frame(frame)
    message = ocr_pb2.Frame(
        image=to_image(frame.image, channel_order=channel_order),
        frame_id=index if frame.frame_id is None else frame.frame_id,
        timestamp_s=frame.timestamp_s)
    return ocr_pb2.StreamOcrRequest(frame=message)


#: The end of the caller's frames (next()'s default).
_END = object()
#: Seconds a closing stream waits for gRPC's thread to leave the caller's iterator.
STOP_WAIT_S = 5.0


class FrameSource:
    """The request messages of one stream: its config, then the caller's frames.

    gRPC reads them on its own (a thread, or a task), where an exception would
    only cancel the call.  So a frame that cannot be sent (a bad image, an error
    in the caller's generator) ends the stream instead; the server answers the
    frames before it, and :meth:`raise_error` then raises it in the caller.
    """

    def __init__(self, config: ocr_pb2.StreamConfig, channel_order: ChannelOrder) -> None:
        self.config = config
        self.channel_order = channel_order
        self.error: Exception | None = None
        self._stopped = threading.Event()
        self._outside = threading.Event()  # gRPC's thread is not in the caller's iterator
        self._outside.set()

    def requests(self, frames: Iterable[Frame | ImageLike]
                 ) -> Iterator[ocr_pb2.StreamOcrRequest]:
        yield ocr_pb2.StreamOcrRequest(config=self.config)
        try:
            for index, frame in enumerate(self._until_stopped(frames)):
                yield frame_request(frame, index, self.channel_order)
        except Exception as exc:
            self.error = exc

    def _until_stopped(self, frames: Iterable[Frame | ImageLike]
                       ) -> Iterator[Frame | ImageLike]:
        iterator = iter(frames)
        while not self._stopped.is_set():
            self._outside.clear()
            try:
                frame = next(iterator, _END)
            finally:
                self._outside.set()
            if frame is _END:
                return
            yield frame

    def stop(self, wait_s: float = STOP_WAIT_S) -> None:
        """Take no more frames, and wait (``wait_s`` at most) until gRPC's thread is out
        of the caller's iterator.  A process that exits while that thread is inside
        native code, such as OpenCV's ``VideoCapture.read``, aborts ("FATAL: exception
        not rethrown"): ``ocr-client stream`` did, on a stream the server refused."""
        self._stopped.set()
        self._outside.wait(wait_s)

    async def arequests(self, frames: Iterable[Frame | ImageLike]
                        | AsyncIterable[Frame | ImageLike]
                        ) -> AsyncIterator[ocr_pb2.StreamOcrRequest]:
        yield ocr_pb2.StreamOcrRequest(config=self.config)
        try:
            if isinstance(frames, AsyncIterable):
                index = 0
                async for frame in frames:
                    yield frame_request(frame, index, self.channel_order)
                    index += 1
            else:
                for index, frame in enumerate(frames):
                    yield frame_request(frame, index, self.channel_order)
        except Exception as exc:
            self.error = exc

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error


def detect_call(images: Iterable[ImageLike], channel_order: ChannelOrder,
                kwargs: Mapping[str, Any], strict: bool = False) -> Call[list[DetectResult]]:
    params, options = split_options(kwargs, DetectArgs)
    request = ocr_pb2.DetectRequest(
        images=_images(images, channel_order),
        detection=detection_params(params),
        return_timings=bool(params.get("return_timings")),
        priority=priority(params),
    )
    return _image_call("Detect", request, detect_result_from_proto, options, strict)


def classify_call(images: Iterable[ImageLike], channel_order: ChannelOrder,
                  kwargs: Mapping[str, Any], strict: bool = False
                  ) -> Call[list[Classification]]:
    params, options = split_options(kwargs, ClassifyArgs)
    request = ocr_pb2.ClassifyRequest(images=_images(images, channel_order),
                                      classification=classification_params(params),
                                      priority=priority(params))
    return _image_call("Classify", request, classification_from_proto, options, strict)


def recognize_call(images: Iterable[ImageLike], channel_order: ChannelOrder,
                   kwargs: Mapping[str, Any], strict: bool = False) -> Call[list[Recognition]]:
    params, options = split_options(kwargs, RecognizeArgs)
    request = ocr_pb2.RecognizeRequest(images=_images(images, channel_order),
                                       slot=params.get("language") or "",
                                       priority=priority(params))
    return _image_call("Recognize", request, recognition_from_proto, options, strict)


def health_call(service: str, options: Mapping[str, Any]) -> Call[str]:
    return Call("health", "Check", health_pb2.HealthCheckRequest(service=service),
                lambda response: health_status_name(response.status), options)


def server_info_call(options: Mapping[str, Any]) -> Call[ServerInfo]:
    return Call("ocr", "GetServerInfo", ocr_pb2.GetServerInfoRequest(), server_info_from_proto,
                options)


def catalog_call(options: Mapping[str, Any]) -> Call[list[CatalogModel]]:
    return Call("models", "ListCatalog", models_pb2.ListCatalogRequest(),
                lambda response: [catalog_model_from_proto(m) for m in response.models], options)


def slots_call(options: Mapping[str, Any]) -> Call[list[SlotStatus]]:
    return Call("models", "ListSlots", models_pb2.ListSlotsRequest(),
                lambda response: [slot_status_from_proto(s) for s in response.slots], options)


def channel_options(max_message_mb: int, policy: RetryPolicy) -> list[tuple[str, int]]:
    """Message size limits, reconnect backoff in step with the retry policy, own connection.

    A channel that failed to connect answers UNAVAILABLE at once until its own
    reconnect backoff (1 s, growing to 120 s by default) expires; retries
    spaced by our policy are only real attempts if reconnects keep pace.

    gRPC shares one connection among channels to the same target unless told
    otherwise; each client gets its own, so that several clients spread over
    the server's front-end processes (the kernel balances connections).
    """
    size = max_message_mb * 1024 * 1024
    return [
        ("grpc.use_local_subchannel_pool", 1),
        ("grpc.max_send_message_length", size),
        ("grpc.max_receive_message_length", size),
        ("grpc.initial_reconnect_backoff_ms", round(policy.initial_backoff * 1000)),
        ("grpc.max_reconnect_backoff_ms", round(policy.max_backoff * 1000)),
    ]


class ClientBase:
    """Constructor and state of both clients; subclasses only say how to make a channel.

    ``channel``: use this channel (secure, intercepted, ...) instead of
    opening one to ``target``; the client then leaves closing it to the caller.
    ``timeout``: seconds for a whole call, retries included; ``None`` = no limit.
    ``retries``: how many times to retry what is safe to retry (see ``_retry.py``),
    or a full RetryPolicy.  ``metadata``: (key, value) pairs sent with every call.
    ``wait_for_ready``: calls wait for the server to become reachable (within their
    timeout) instead of failing at once.  ``strict``: multi-image calls raise the
    first failed image's error instead of returning it in that image's result.
    ``root_certificates``, ``certificate_chain``, ``private_key`` (PEM paths or bytes),
    ``server_name`` and ``token``: TLS, mTLS and the bearer token (see ``_security.py``).
    """

    #: The module whose ``insecure_channel``/``secure_channel`` the client uses.
    _channels: Any

    def __init__(self, target: str = DEFAULT_TARGET, *, timeout: float | None = 30.0,
                 retries: int | RetryPolicy = DEFAULT_RETRIES, max_message_mb: int = 64,
                 channel: Any = None, metadata: Sequence[tuple[str, str]] = (),
                 wait_for_ready: bool = False, strict: bool = False,
                 root_certificates: Pem | None = None, certificate_chain: Pem | None = None,
                 private_key: Pem | None = None, server_name: str | None = None,
                 token: str | None = None) -> None:
        self.timeout = timeout
        self.retry_policy = (retries if isinstance(retries, RetryPolicy)
                             else RetryPolicy.with_retries(retries))
        security = Security(root_certificates, certificate_chain, private_key, server_name,
                            token)
        self.metadata = (*security.metadata, *metadata)
        self.wait_for_ready = wait_for_ready
        self.strict = strict
        self._owns_channel = channel is None
        if channel is None:
            options = channel_options(max_message_mb, self.retry_policy)
            channel = security.open_channel(type(self)._channels, target, options)
        self._channel = channel
        self._stubs: dict[Service, Any] = {
            "ocr": ocr_pb2_grpc.OcrServiceStub(channel),
            "models": models_pb2_grpc.ModelServiceStub(channel),
            "health": health_pb2_grpc.HealthStub(channel),
        }

    def _method(self, call: Call[Any]) -> Any:
        return getattr(self._stubs[call.service], call.method)

    def _timeout(self, call: Call[Any]) -> float | None:
        """The call's own timeout when given (None: unlimited), else the client's."""
        timeout: float | None = call.options.get("timeout", self.timeout)
        return timeout

    def _call_kwargs(self, call: Call[Any]) -> dict[str, Any]:
        """gRPC keyword arguments besides the timeout: metadata and wait_for_ready."""
        return self._grpc_kwargs(call.options)

    def _grpc_kwargs(self, options: Mapping[str, Any]) -> dict[str, Any]:
        metadata = [*self.metadata, *options.get("metadata", ())]
        if options.get("request_id"):
            metadata.append((REQUEST_ID_KEY, str(options["request_id"])))
        return {"metadata": metadata or None,
                "wait_for_ready": bool(options.get("wait_for_ready", self.wait_for_ready))}

    def _stream_call(self, frames_kwargs: Mapping[str, Any]
                     ) -> tuple[ocr_pb2.StreamConfig, dict[str, Any]]:
        """A stream's config and gRPC keyword arguments.  A stream has no timeout
        unless the call gives one: the client's default is meant for single requests."""
        params, options = split_options(frames_kwargs, StreamArgs)
        if "strict" in options:
            raise TypeError("stream takes no strict: each frame's error is in its result")
        return stream_config(params), {"timeout": options.get("timeout"),
                                       **self._grpc_kwargs(options)}


def only_result(results: Sequence[R]) -> R:
    """The one result of a single-image call; its image's error is raised."""
    (result,) = results
    if result.error is not None:
        raise result.error
    return result


__all__ = ["Call", "ClientBase", "OcrClientError", "channel_options", "only_result"]
