"""What the sync and async clients share: everything except the waiting.

Each client method builds a :class:`Call` here (stub method name, request,
response parser), then runs it with its own retry loop: ``client.py`` blocks,
``aio.py`` awaits.  Request building, response parsing, channel options and
constructor arguments exist once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, Literal, Protocol, TypeVar

from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ocrclient._errors import ServerError
from ocrclient._images import ChannelOrder, ImageLike, to_images
from ocrclient._params import (
    ClassifyParams,
    DetectParams,
    OcrParams,
    RecognizeParams,
    check_names,
    classification_params,
    detection_params,
    priority,
    recognition_params,
)
from ocrclient._proto.ocr.v1 import models_pb2, models_pb2_grpc, ocr_pb2, ocr_pb2_grpc
from ocrclient._retry import RetryPolicy
from ocrclient._types import (
    CatalogModel,
    Classification,
    DetectResult,
    ModelRef,
    OcrResult,
    Recognition,
    SlotStatus,
    catalog_model_from_proto,
    classification_from_proto,
    detect_result_from_proto,
    health_status_name,
    models_from_proto,
    ocr_result_from_proto,
    recognition_from_proto,
    slot_status_from_proto,
)

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
Service = Literal["ocr", "models", "health"]
DEFAULT_TARGET = "127.0.0.1:50051"


@dataclass(frozen=True)
class Call(Generic[T]):
    """One prepared RPC: which stub method, the request, and how to read the answer."""

    service: Service
    method: str
    request: Message
    parse: Callable[[Any], T]


class _Converter(Protocol[T_co]):
    def __call__(self, msg: Any, models: tuple[ModelRef, ...], /) -> T_co: ...


def _per_image(convert: _Converter[T], expected: int, response: Any) -> list[T]:
    """One result per image sent, in order; anything else is the server's bug."""
    if len(response.results) != expected:
        raise ServerError(f"server returned {len(response.results)} results for "
                          f"{expected} images")
    models = models_from_proto(response.models)
    return [convert(result, models) for result in response.results]


def _images(images: Iterable[ImageLike], channel_order: ChannelOrder) -> list[ocr_pb2.Image]:
    converted = to_images(images, channel_order=channel_order)
    if not converted:
        raise ValueError("no images given")
    return converted


def ocr_call(images: Iterable[ImageLike], channel_order: ChannelOrder,
             params: Mapping[str, Any]) -> Call[list[OcrResult]]:
    check_names(params, OcrParams)
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
    parse = partial(_per_image, ocr_result_from_proto, len(request.images))
    return Call("ocr", "Ocr", request, parse)


def detect_call(images: Iterable[ImageLike], channel_order: ChannelOrder,
                params: Mapping[str, Any]) -> Call[list[DetectResult]]:
    check_names(params, DetectParams)
    request = ocr_pb2.DetectRequest(
        images=_images(images, channel_order),
        detection=detection_params(params),
        return_timings=bool(params.get("return_timings")),
        priority=priority(params),
    )
    parse = partial(_per_image, detect_result_from_proto, len(request.images))
    return Call("ocr", "Detect", request, parse)


def classify_call(images: Iterable[ImageLike], channel_order: ChannelOrder,
                  params: Mapping[str, Any]) -> Call[list[Classification]]:
    check_names(params, ClassifyParams)
    request = ocr_pb2.ClassifyRequest(images=_images(images, channel_order),
                                      classification=classification_params(params),
                                      priority=priority(params))
    parse = partial(_per_image, classification_from_proto, len(request.images))
    return Call("ocr", "Classify", request, parse)


def recognize_call(images: Iterable[ImageLike], channel_order: ChannelOrder,
                   params: Mapping[str, Any]) -> Call[list[Recognition]]:
    check_names(params, RecognizeParams)
    request = ocr_pb2.RecognizeRequest(images=_images(images, channel_order),
                                       recognition=recognition_params(params),
                                       priority=priority(params))
    parse = partial(_per_image, recognition_from_proto, len(request.images))
    return Call("ocr", "Recognize", request, parse)


def health_call(service: str) -> Call[str]:
    return Call("health", "Check", health_pb2.HealthCheckRequest(service=service),
                lambda response: health_status_name(response.status))


def catalog_call() -> Call[list[CatalogModel]]:
    return Call("models", "ListCatalog", models_pb2.ListCatalogRequest(),
                lambda response: [catalog_model_from_proto(m) for m in response.models])


def slots_call() -> Call[list[SlotStatus]]:
    return Call("models", "ListSlots", models_pb2.ListSlotsRequest(),
                lambda response: [slot_status_from_proto(s) for s in response.slots])


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
    ``retries``: how many times to retry UNAVAILABLE, or a full RetryPolicy.
    """

    _new_channel: Callable[..., Any]

    def __init__(self, target: str = DEFAULT_TARGET, *, timeout: float | None = 30.0,
                 retries: int | RetryPolicy = 3, max_message_mb: int = 64,
                 channel: Any = None) -> None:
        self.timeout = timeout
        self.retry_policy = (retries if isinstance(retries, RetryPolicy)
                             else RetryPolicy.with_retries(retries))
        self._owns_channel = channel is None
        if channel is None:
            options = channel_options(max_message_mb, self.retry_policy)
            channel = type(self)._new_channel(target, options=options)
        self._channel = channel
        self._stubs: dict[Service, Any] = {
            "ocr": ocr_pb2_grpc.OcrServiceStub(channel),
            "models": models_pb2_grpc.ModelServiceStub(channel),
            "health": health_pb2_grpc.HealthStub(channel),
        }

    def _method(self, call: Call[Any]) -> Any:
        return getattr(self._stubs[call.service], call.method)

    def _call_timeout(self, timeout: float | None) -> float | None:
        return self.timeout if timeout is None else timeout
