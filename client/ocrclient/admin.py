"""The operators' client: slots and models (``ocr.v1.ModelService``).

    with AdminClient("127.0.0.1:50052", token=os.environ["OCR_ADMIN_TOKEN"]) as admin:
        admin.swap_slot("rec", "ch_PP-OCRv2_rec@2", expected_version=1)

Apart from the OCR client because its users and their rights differ: a server
may serve this API on a port of its own and require a bearer token for it.

Changes carry a request id (one is made up when none is given), so a call that
is repeated with the same id after a lost answer is not applied twice.  Nothing
is retried automatically: a swap is not a call to repeat behind an operator's
back.  Long operations stream progress; ``on_progress`` sees every step.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import grpc

from ocrclient._argtypes import UINT32_MAX
from ocrclient._errors import InvalidArgument, Unavailable, from_rpc_error
from ocrclient._security import Pem, Security
from ocrclient._types import (
    PullProgress,
    SlotStatus,
    pull_progress_from_proto,
    slot_status_from_proto,
)
from ocrclient.proto.ocr.v1 import models_pb2, models_pb2_grpc

DEFAULT_ADMIN_TARGET = "127.0.0.1:50051"

SlotsCallback = Callable[[list[SlotStatus]], None]


@dataclass(frozen=True)
class SlotEvent:
    """One change seen by :meth:`AdminClient.watch_slots` (``removed``: unloaded)."""

    slot: SlotStatus
    removed: bool = False


def model_spec(text: str) -> models_pb2.ModelSpec:
    """``NAME[@VERSION][@onnx|@paddle]`` (the server's slot spec syntax) as a ModelSpec."""
    name, *tags = text.split("@")
    spec = models_pb2.ModelSpec(name=name)
    for tag in tags:
        if tag.isdigit() and not spec.version and int(tag) <= UINT32_MAX:
            spec.version = int(tag)
        elif tag in ("onnx", "paddle") and not spec.format:
            spec.format = tag
        else:
            raise InvalidArgument(
                f"bad model spec {text!r}: expected NAME[@VERSION][@onnx|@paddle]")
    if not name:
        raise InvalidArgument(f"bad model spec {text!r}: no model name")
    return spec


class AdminClient:
    """Blocking ModelService client.  ``token``: the server's admin bearer token, if it
    asks for one.  ``timeout``: seconds per call (``None``: none), long operations
    included.  ``root_certificates``, ``certificate_chain``, ``private_key`` (PEM paths
    or bytes) and ``server_name``: TLS and mTLS, as for the OCR clients."""

    def __init__(self, target: str = DEFAULT_ADMIN_TARGET, *, token: str | None = None,
                 timeout: float | None = 600.0, channel: Any = None,
                 root_certificates: Pem | None = None, certificate_chain: Pem | None = None,
                 private_key: Pem | None = None, server_name: str | None = None) -> None:
        self.timeout = timeout
        security = Security(root_certificates, certificate_chain, private_key, server_name,
                            token)
        self._metadata = security.metadata
        self._owns_channel = channel is None
        self._channel = channel if channel is not None else security.open_channel(grpc, target)
        self._stub = models_pb2_grpc.ModelServiceStub(self._channel)

    # ---------------------------------------------------------------- reading

    def list_slots(self) -> list[SlotStatus]:
        """Every slot on every engine (one entry per slot and device)."""
        response = self._unary("ListSlots", models_pb2.ListSlotsRequest())
        return [slot_status_from_proto(s) for s in response.slots]

    def get_slot(self, slot: str) -> list[SlotStatus]:
        """One slot, one entry per engine; NotFound when no engine has it."""
        response = self._unary("GetSlot", models_pb2.GetSlotRequest(slot=slot))
        return [slot_status_from_proto(s) for s in response.slots]

    def watch_slots(self) -> Iterator[SlotEvent]:
        """The slots as they are, then every change, until the caller stops iterating."""
        stream = self._stub.WatchSlots(models_pb2.WatchSlotsRequest(),
                                       metadata=self._metadata or None)
        try:
            for event in stream:
                yield SlotEvent(slot_status_from_proto(event.slot), event.removed)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                raise from_rpc_error(exc) from exc
        finally:
            stream.cancel()

    # --------------------------------------------------------------- changing

    def load_slot(self, slot: str, model: str, *, request_id: str | None = None,
                  on_progress: SlotsCallback | None = None) -> list[SlotStatus]:
        """Declare and load ``slot`` with ``model`` (``NAME[@VERSION][@FORMAT]``); returns
        the slot on every engine once it is ready."""
        request = models_pb2.LoadSlotRequest(slot=slot, model=model_spec(model),
                                             request_id=request_id or _new_id())
        return self._operation("LoadSlot", request, on_progress)

    def swap_slot(self, slot: str, model: str, *, expected_version: int | None = None,
                  request_id: str | None = None,
                  on_progress: SlotsCallback | None = None) -> list[SlotStatus]:
        """Replace ``slot``'s model without losing a request; with ``expected_version``
        only while it serves that version."""
        request = models_pb2.SwapSlotRequest(slot=slot, model=model_spec(model),
                                             request_id=request_id or _new_id())
        if expected_version is not None:
            request.expected_version = expected_version
        return self._operation("SwapSlot", request, on_progress)

    def unload_slot(self, slot: str, *, expected_version: int | None = None,
                    request_id: str | None = None) -> None:
        """Drain ``slot`` (queued work finishes) and free its model."""
        request = models_pb2.UnloadSlotRequest(slot=slot, request_id=request_id or _new_id())
        if expected_version is not None:
            request.expected_version = expected_version
        self._unary("UnloadSlot", request)

    def pull_model(self, name: str, *, url: str = "", request_id: str | None = None,
                   on_progress: Callable[[PullProgress], None] | None = None) -> PullProgress:
        """Have the server fetch catalog model ``name`` into its repository; returns the
        last step (phase "DONE", with the installed version)."""
        request = models_pb2.PullModelRequest(name=name, url=url,
                                              request_id=request_id or _new_id())
        last: PullProgress | None = None
        for message in self._stream("PullModel", request):
            last = pull_progress_from_proto(message)
            if on_progress is not None:
                on_progress(last)
        if last is None or last.phase != "DONE":
            raise Unavailable("the server ended PullModel before it was done")
        return last

    # ---------------------------------------------------------------- plumbing

    def close(self) -> None:
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _unary(self, method: str, request: Any) -> Any:
        try:
            return getattr(self._stub, method)(request, timeout=self.timeout,
                                               metadata=self._metadata or None)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from exc

    def _stream(self, method: str, request: Any) -> Iterable[Any]:
        try:
            yield from getattr(self._stub, method)(request, timeout=self.timeout,
                                                   metadata=self._metadata or None)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from exc

    def _operation(self, method: str, request: Any,
                   on_progress: SlotsCallback | None) -> list[SlotStatus]:
        for message in self._stream(method, request):
            slots = [slot_status_from_proto(s) for s in message.slots]
            if on_progress is not None:
                on_progress(slots)
            if message.done:
                return slots
        raise Unavailable(f"the server ended {method} before it was done")


def _new_id() -> str:
    return uuid.uuid4().hex


__all__ = ["AdminClient", "SlotEvent", "model_spec"]
