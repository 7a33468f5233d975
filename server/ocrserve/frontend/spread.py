"""One client connection, every front-end's CPU: requests spread across siblings.

gRPC multiplexes a channel on one HTTP/2 connection and SO_REUSEPORT gives each
connection to one front-end process, so a service with a single channel would
get one process's CPU for decoding and pre- and post-processing however many
front-ends run.  On a GPU that CPU, not the models, is the wall.  So a
front-end that is busier than a sibling hands a unary OCR call to it over a
private Unix socket (in the supervisor's 0700 folder) instead of running it:

- Each front-end publishes the pixels it has in flight (its admission budget in
  use, see admission.py) in a shared :class:`LoadBoard`, one int64 per process.
- :func:`pick_peer` decides, per call, from those numbers and the call's own
  cost (pure logic, unit-tested).
- The sibling runs the call as if it had arrived itself; its answer (or its
  error, with every detail) goes back to the caller unchanged.  A call that
  arrived over the Unix socket is never handed on again, and is counted in the
  request metrics only by the front-end that received it from the client.
- A sibling that cannot be reached (restarting, draining) costs nothing but a
  local run: UNAVAILABLE from the hop falls back to running the call here.

Streams (StreamOcr) stay where they arrived: frames of one stream share state.
"""

from __future__ import annotations

import logging
import mmap
import os
import struct
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc import aio

from ocrclient.proto.ocr.v1 import ocr_pb2
from ocrserve.context import request_id
from ocrserve.frontend.errors import (
    REQUEST_ID_KEY,
    STATUS_DETAILS_KEY,
    error_from_status,
    is_forwarded,
)
from ocrserve.metrics import families

log = logging.getLogger(__name__)

OCR_SERVICE = ocr_pb2.DESCRIPTOR.services_by_name["OcrService"].full_name
#: The unary methods that may be handed on (each request carries its images whole).
SPREAD_METHODS = frozenset(f"/{OCR_SERVICE}/{name}"
                           for name in ("Ocr", "Detect", "Classify", "Recognize"))
_SLOT = struct.Struct("<q")


@dataclass(frozen=True)
class SiblingSockets:
    """What the supervisor tells front-end ``index``: every front-end's private socket
    (its own included) and the load board's file."""

    index: int
    sockets: tuple[str, ...]
    board: str


class LoadBoard:
    """Pixels in flight per front-end, in a file every front-end maps: each process writes
    its own slot only (aligned 8-byte stores), and reads the others' without locks, since
    a slightly stale figure only makes a placement slightly worse."""

    def __init__(self, path: str | os.PathLike[str], size: int) -> None:
        self.size = size
        with open(path, "r+b") as f:
            self._map = mmap.mmap(f.fileno(), size * _SLOT.size)

    @staticmethod
    def create(path: str | os.PathLike[str], size: int) -> None:
        Path(path).write_bytes(b"\0" * _SLOT.size * size)

    def publish(self, index: int, value: int) -> None:
        _SLOT.pack_into(self._map, index * _SLOT.size, value)

    def loads(self) -> list[int]:
        return [_SLOT.unpack_from(self._map, i * _SLOT.size)[0] for i in range(self.size)]

    def close(self) -> None:
        self._map.close()


def pick_peer(me: int, loads: Sequence[int], cost: int) -> int | None:
    """The sibling that should run a call of ``cost`` pixels; None: run it here.

    It moves only if the least loaded sibling, with the call added, would carry no
    more than this front-end carries without it: an idle front-end keeps its calls,
    and equal loads never send work back and forth.
    """
    best = min((i for i in range(len(loads)) if i != me), key=lambda i: loads[i], default=None)
    if best is None or loads[best] + max(cost, 1) > loads[me]:
        return None
    return best


class Spreader:
    """This front-end's view of its siblings: the board, and a channel to each."""

    def __init__(self, index: int, sockets: Sequence[str], board: LoadBoard,
                 max_message_bytes: int) -> None:
        self.index = index
        self.sockets = list(sockets)
        self.board = board
        self._options = [("grpc.max_receive_message_length", max_message_bytes),
                         ("grpc.max_send_message_length", max_message_bytes)]
        self._channels: dict[int, aio.Channel] = {}
        #: Pixels this front-end has handed to each sibling and not yet seen answered:
        #: the board shows them only once the sibling has admitted them.
        self._outstanding = [0] * len(self.sockets)

    @property
    def own_socket(self) -> str:
        return self.sockets[self.index]

    def publish(self, in_flight: int) -> None:
        self.board.publish(self.index, in_flight)

    def choose(self, cost: int) -> int | None:
        loads = [max(seen, mine) for seen, mine in zip(self.board.loads(), self._outstanding,
                                                       strict=True)]
        return pick_peer(self.index, loads, cost)

    async def forward(self, peer: int, method: str, request: Any, cost: int,
                      response_type: Any, context: aio.ServicerContext) -> Any | None:
        """The sibling's answer to ``request``; None when it cannot be reached (then the
        caller runs the call itself).  Its errors are raised as :class:`OcrError`."""
        call = self._channel(peer).unary_unary(
            method, request_serializer=type(request).SerializeToString,
            response_deserializer=response_type.FromString)
        # The caller's metadata (its token, say) and this call's request id, so both
        # front-ends' log lines name the same request.
        metadata = [(k, v) for k, v in context.invocation_metadata() or ()
                    if not k.startswith("grpc-") and k != REQUEST_ID_KEY]
        metadata.append((REQUEST_ID_KEY, request_id.get()))
        self._outstanding[peer] += cost
        try:
            response = await call(request, metadata=metadata, timeout=context.time_remaining())
        except aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNAVAILABLE and not _answered(exc):
                log.warning("front-end %d unreachable (%s); running the call here",
                            peer, exc.details())
                return None
            families.FRONTEND_FORWARDED.inc()
            raise error_from_status(exc.code(), exc.details(), exc.trailing_metadata()) from None
        finally:
            self._outstanding[peer] -= cost
        families.FRONTEND_FORWARDED.inc()
        return response

    def _channel(self, peer: int) -> aio.Channel:
        if peer not in self._channels:
            self._channels[peer] = aio.insecure_channel(f"unix:{self.sockets[peer]}",
                                                        options=self._options)
        return self._channels[peer]

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self.board.close()


def _answered(exc: aio.AioRpcError) -> bool:
    """Whether the sibling itself answered UNAVAILABLE (an engine restarting there, with
    its details) rather than the hop failing to connect."""
    return any(key == STATUS_DETAILS_KEY for key, _ in exc.trailing_metadata() or ())


class SpreadInterceptor(aio.ServerInterceptor):
    """Hands unary OCR calls to a less busy sibling (see the module docstring)."""

    def __init__(self, spreader: Spreader, cost_of: Callable[[Any], int]) -> None:
        self._spreader = spreader
        self._cost_of = cost_of

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or details.method not in SPREAD_METHODS or not handler.unary_unary:
            return handler
        inner = handler.unary_unary
        method = details.method
        spreader = self._spreader
        response_type = _response_type(method)

        async def spread(request: Any, context: aio.ServicerContext) -> Any:
            if not is_forwarded(context):
                cost = self._cost_of(request)
                peer = spreader.choose(cost)
                if peer is not None:
                    answer = await spreader.forward(peer, method, request, cost,
                                                    response_type, context)
                    if answer is not None:
                        return answer
            return await inner(request, context)

        return grpc.unary_unary_rpc_method_handler(
            spread, handler.request_deserializer, handler.response_serializer)


def _response_type(method: str) -> Any:
    name = method.rsplit("/", 1)[1]
    return getattr(ocr_pb2, f"{name}Response")
