"""Front-end <-> engine process transport: :mod:`~ocrserve.engine.wire` frames on a Unix socket.

:class:`EngineServer` runs inside the engine process and serves an in-process
engine; :class:`EngineClient` is the front-end's
:class:`~ocrserve.engine.protocol.Inference`.  One connection per front-end
carries every call, multiplexed by id: each request runs in its own task on
the server, so a slow det batch never holds back a rec reply.

Requests are ``{"op", "id", "request_id", ...}`` plus tensors; replies
``{"id", "ok": true, ...}`` plus tensors, or ``{"id", "ok": false, "error": {...}}``
(:meth:`~ocrserve.errors.OcrError.to_dict`) rebuilt on the client by
:func:`~ocrserve.errors.error_from_dict`.  ``request_id`` is the caller's
(:data:`ocrserve.context.request_id`), so engine log lines name it.  Ops:

- ``infer`` {slot, priority, timeout_s}: the engine's ``infer``; ``timeout_s`` is the
  time left (None: no deadline), turned back into a monotonic deadline on receipt.
  The reply's ``models`` lists the [name, version] pairs that produced the outputs.
- ``cancel`` {id}: cancels that request's task, so the batcher drops its queued
  items; never answered.
- ``describe``: a slots snapshot {slots: [SlotInfo dicts], version, epoch}.
  ``stats``: {stats: engine.stats()}.
- ``echo``: the request's tensors back, no model: measures the transport alone.
- ``load_slot`` {slot, spec, operation_id}, ``swap_slot`` {slot, spec, expected_version,
  operation_id}, ``unload_slot`` {slot, expected_version, operation_id}: the engine's
  slot operations (:class:`SwappableEngine`); the reply holds the slot's SlotInfo dict as
  ``slot`` plus a slots snapshot taken after the change.  ``operation_id`` is the
  operation's idempotency key: the client makes one when its caller gave none, so a
  call sent again after a dropped connection is not applied twice.

Besides replies, the engine pushes a frame ``{"push": "slots", ...snapshot}`` (no id,
no tensors) to every connected front-end whenever its slots change, whoever changed
them.  ``version`` grows with each change of one engine instance and ``epoch`` names
the instance, so a client keeps the newest snapshot whatever order replies and pushes
arrive in.

A broken frame or a dropped connection ends the connection (the stream is out
of sync); one failing request only fails that request.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import os
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from functools import partial
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ocrserve.context import NO_REQUEST, request_id
from ocrserve.engine import wire
from ocrserve.engine.heartbeat import INTERVAL_S as HEARTBEAT_INTERVAL_S
from ocrserve.engine.heartbeat import heartbeat_path, silent_for
from ocrserve.engine.policy import Priority
from ocrserve.engine.protocol import Inference, Inferred, ModelVersion, SlotInfo
from ocrserve.engine.socket_writer import SocketWriter
from ocrserve.errors import (
    DeadlineExceeded,
    InvalidInput,
    ModelError,
    OcrError,
    Reason,
    Unavailable,
    error_from_dict,
)

log = logging.getLogger(__name__)

#: How often EngineClient.start retries while the engine process is still loading.
RETRY_INTERVAL_S = 0.1

Frame = tuple[dict[str, Any], list[np.ndarray]]


class ServedInference(Inference, Protocol):
    """What EngineServer serves: an engine with counters (``Engine`` is one)."""

    def stats(self) -> Mapping[str, object]: ...


@runtime_checkable
class SwappableEngine(Protocol):
    """An engine whose slots change at run time (``Engine`` is one).  EngineServer
    serves the slot ops and pushes changes only for such an engine."""

    @property
    def slots_version(self) -> int: ...

    @property
    def slots_epoch(self) -> str: ...

    def add_slots_listener(self, listener: Callable[[int], None]) -> None: ...

    def remove_slots_listener(self, listener: Callable[[int], None]) -> None: ...

    async def load_slot(self, slot: str, spec: str, *,
                        request_id: str | None = None) -> SlotInfo: ...

    async def swap_slot(self, slot: str, spec: str, *, expected_version: int | None = None,
                        request_id: str | None = None) -> SlotInfo: ...

    async def unload_slot(self, slot: str, *, expected_version: int | None = None,
                          request_id: str | None = None) -> SlotInfo: ...


class _FrameProtocol(asyncio.BufferedProtocol):
    """One socket carrying frames both ways; subclasses handle what arrives.

    Receiving: the kernel copies each frame's header and body straight into
    bytearrays of their exact size, and the tensors handed to
    :meth:`frame_received` are writable views of that body: no copy after the
    kernel's.  (A stream reader would copy every byte twice more.)

    Sending: :meth:`send` writes a whole frame, each tensor from its own memory
    (:class:`~ocrserve.engine.socket_writer.SocketWriter`: the transport would copy
    what the socket does not take at once), and returns once the kernel holds it.
    """

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._prefix = bytearray(wire.PREFIX.size)
        self._header = bytearray()
        self._body = bytearray()
        self._part = self._prefix  # the part being received: prefix, header, then body
        self._filled = 0
        self._writer: SocketWriter | None = None
        self._send_lock = asyncio.Lock()  # frames must not interleave
        self._closed = asyncio.get_running_loop().create_future()
        self._closing = False  # this side asked to close

    # -- what subclasses implement

    def frame_received(self, header: dict[str, Any], tensors: list[np.ndarray]) -> None:
        raise NotImplementedError

    def lost(self) -> None:
        """The connection ended (either side closed it, or a broken frame)."""

    # -- sending and closing

    @property
    def alive(self) -> bool:
        return not self._closed.done()

    async def send(self, header: dict[str, Any], tensors: Sequence[np.ndarray]) -> None:
        """Write one frame; ConnectionResetError once the connection is gone.

        A caller cancelled meanwhile does not cut the frame short (the stream would be
        out of sync): the frame is written to its end all the same.
        """
        await asyncio.shield(self._write(wire.encode(header, tensors)))

    async def _write(self, buffers: Sequence[wire.Buffer]) -> None:
        async with self._send_lock:
            if self._writer is None or not self.alive or (
                    self._transport is not None and self._transport.is_closing()):
                raise ConnectionResetError("connection closed")
            await self._writer.write(buffers)

    async def close(self) -> None:
        """Close after what is being written has gone out; return once the connection
        is gone."""
        self._closing = True
        async with self._send_lock:
            if self._transport is not None:
                self._transport.close()
        await asyncio.shield(self._closed)

    # -- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._writer = SocketWriter(transport.get_extra_info("socket"))

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self._part)[self._filled:]

    def buffer_updated(self, nbytes: int) -> None:
        self._filled += nbytes
        if self._filled < len(self._part):
            return
        try:
            self._part_complete()
        except wire.FrameError as exc:
            log.error("dropping the connection: broken frame: %s", exc)
            self._receive(self._prefix)  # nothing more is read: not a frame cut short
            assert self._transport is not None
            self._transport.abort()

    def _part_complete(self) -> None:
        if self._part is self._prefix:
            header_size, body_size = wire.parse_prefix(self._prefix)
            self._header, self._body = bytearray(header_size), bytearray(body_size)
            self._receive(self._header)
        elif self._part is self._header and self._body:
            self._receive(self._body)
        else:  # a whole frame
            header, body = self._header, self._body
            # Drop our references: the tensors are views of the body, which must live
            # exactly as long as they do (a 200 MB frame must not wait for the next).
            self._header, self._body = bytearray(), bytearray()
            self._receive(self._prefix)
            self.frame_received(*wire.decode(header, body))

    def _receive(self, part: bytearray) -> None:
        self._part, self._filled = part, 0

    def connection_lost(self, exc: Exception | None) -> None:
        if self._filled or self._part is not self._prefix:
            log.warning("connection ended inside a frame")
        if self._writer is not None:
            self._writer.close()  # a frame being written fails: the connection is gone
        self._closed.set_result(None)
        self.lost()


# ----------------------------------------------------------------------------- server


class _Peer(_FrameProtocol):
    """One front-end's connection, seen from the engine: its requests in flight."""

    def __init__(self, server: EngineServer) -> None:
        super().__init__()
        self._server = server
        self.tasks: dict[Any, asyncio.Task[None]] = {}
        self._pushes: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._server.adopt(self)

    def frame_received(self, header: dict[str, Any], tensors: list[np.ndarray]) -> None:
        call_id = header.get("id")
        if header.get("op") == "cancel":
            task = self.tasks.get(call_id)
            if task is not None:
                task.cancel()
            return
        self._server.call_started()
        task = asyncio.create_task(self._answer(header, tensors))
        self.tasks[call_id] = task
        task.add_done_callback(lambda _: self._done(call_id))

    def _done(self, call_id: Any) -> None:
        self.tasks.pop(call_id, None)
        self._server.call_done()

    def lost(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        for task in self._pushes:
            task.cancel()
        self._server.forget(self)

    def push(self, header: dict[str, Any]) -> None:
        """Send ``header`` unasked, in the background (pushes go out in call order: the
        send lock is fair)."""
        task = asyncio.create_task(self._push(header))
        self._pushes.add(task)
        task.add_done_callback(self._pushes.discard)

    async def _push(self, header: dict[str, Any]) -> None:
        with contextlib.suppress(ConnectionError):
            await self.send(header, ())

    async def _answer(self, header: dict[str, Any], tensors: list[np.ndarray]) -> None:
        request_id.set(str(header.get("request_id", NO_REQUEST)))  # this task's own context
        outputs: Sequence[np.ndarray] = ()
        try:
            reply, outputs = await self._server.perform(header, tensors)
            reply["ok"] = True
        except OcrError as exc:
            if exc.status == "INTERNAL":
                log.error("engine op %r failed: %s", header.get("op"), exc, exc_info=exc)
            reply = {"ok": False, "error": exc.to_dict()}
        except Exception as exc:  # one bad request must not take the connection down
            log.exception("engine op %r failed", header.get("op"))
            error = ModelError(f"engine op {header.get('op')!r} failed: "
                               f"{type(exc).__name__}: {exc}", reason=Reason.INTERNAL_ERROR)
            reply = {"ok": False, "error": error.to_dict()}
        try:
            await self.send({**reply, "id": header.get("id")}, outputs)
        except ConnectionError:  # the front-end went away: nobody is left to answer
            log.debug("reply to request %s dropped: connection closed", header.get("id"))


class EngineServer:
    """Serves ``engine`` to front-end processes on the Unix socket ``path``.

    A stale socket file left by a killed engine is replaced on start (asyncio
    does that); :meth:`close` removes the file.
    """

    def __init__(self, engine: ServedInference, path: str,
                 on_idle: Callable[[], None] | None = None,
                 on_busy: Callable[[], None] | None = None) -> None:
        """``on_idle`` is called each time the last call in flight ends, ``on_busy`` when
        a call starts with none in flight (memory.IdleTrim)."""
        self.path = path
        self._engine = engine
        self._on_idle = on_idle
        self._on_busy = on_busy
        self._server: asyncio.Server | None = None
        self._peers: set[_Peer] = set()
        self._listening = False  # to the engine's slot changes
        self._closing = False

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(partial(_Peer, self), self.path)
        if isinstance(self._engine, SwappableEngine):
            self._engine.add_slots_listener(self._slots_changed)
            self._listening = True

    async def close(self, grace_s: float = 5.0) -> None:
        """Stop accepting, give requests in flight ``grace_s`` to finish, cancel the rest,
        close every connection and remove the socket file.

        Requests that arrive meanwhile get Unavailable.
        """
        self._closing = True
        if self._listening and isinstance(self._engine, SwappableEngine):
            self._engine.remove_slots_listener(self._slots_changed)
            self._listening = False
        if self._server is not None:
            self._server.close()
        in_flight = [task for peer in self._peers for task in peer.tasks.values()]
        if in_flight:
            _, late = await asyncio.wait(in_flight, timeout=grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await asyncio.gather(*(peer.close() for peer in list(self._peers)))
        if self._server is not None:
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def call_started(self) -> None:
        """A call is about to start (called by the peer)."""
        if self._on_busy is not None and not any(peer.tasks for peer in self._peers):
            self._on_busy()

    def call_done(self) -> None:
        """A call ended (called by the peer)."""
        if self._on_idle is not None and not any(peer.tasks for peer in self._peers):
            self._on_idle()

    def adopt(self, peer: _Peer) -> None:
        """A front-end connected (called by the peer)."""
        self._peers.add(peer)

    def forget(self, peer: _Peer) -> None:
        """A front-end's connection ended (called by the peer)."""
        self._peers.discard(peer)

    def _slots_changed(self, version: int) -> None:
        header = {"push": "slots", **self._snapshot()}
        for peer in list(self._peers):
            peer.push(header)

    def _snapshot(self) -> dict[str, Any]:
        """The engine's slots now, with what orders snapshots (see the module docstring)."""
        engine = self._engine
        slots = [info.to_dict() for info in engine.slots().values()]
        if isinstance(engine, SwappableEngine):
            return {"slots": slots, "version": engine.slots_version, "epoch": engine.slots_epoch}
        return {"slots": slots, "version": 0, "epoch": ""}

    def _admin(self) -> SwappableEngine:
        if not isinstance(self._engine, SwappableEngine):
            raise InvalidInput("this engine's slots cannot be changed")
        return self._engine

    async def perform(self, header: dict[str, Any],
                      tensors: list[np.ndarray]) -> tuple[dict[str, Any], Sequence[np.ndarray]]:
        """Run one op: (reply fields, reply tensors)."""
        if self._closing:
            raise Unavailable("the engine is shutting down", reason=Reason.SERVER_DRAINING)
        op = header.get("op")
        match op:
            case "infer":
                timeout_s = header.get("timeout_s")
                deadline = None if timeout_s is None else time.monotonic() + float(timeout_s)
                inferred = await self._engine.infer(
                    header["slot"], tensors,
                    priority=Priority(int(header.get("priority", Priority.NORMAL))),
                    deadline=deadline)
                models = [[m.name, m.version] for m in inferred.models]
                return {"models": models}, inferred.outputs
            case "describe":
                return self._snapshot(), ()
            case "load_slot":
                info = await self._admin().load_slot(
                    str(header["slot"]), str(header["spec"]),
                    request_id=header.get("operation_id"))
                return {"slot": info.to_dict(), **self._snapshot()}, ()
            case "swap_slot":
                info = await self._admin().swap_slot(
                    str(header["slot"]), str(header["spec"]),
                    expected_version=header.get("expected_version"),
                    request_id=header.get("operation_id"))
                return {"slot": info.to_dict(), **self._snapshot()}, ()
            case "unload_slot":
                info = await self._admin().unload_slot(
                    str(header["slot"]), expected_version=header.get("expected_version"),
                    request_id=header.get("operation_id"))
                return {"slot": info.to_dict(), **self._snapshot()}, ()
            case "stats":
                return {"stats": _jsonable(self._engine.stats())}, ()
            case "echo":
                return {}, tensors
            case _:
                raise InvalidInput(f"unknown engine op {op!r}")


def _jsonable(value: Any) -> Any:
    """``value`` with dataclasses (e.g. BatcherStats) turned into dicts."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


# ----------------------------------------------------------------------------- client


class EngineLost(Unavailable):
    """The connection to the engine ended while a call was in flight."""


class _Link(_FrameProtocol):
    """The client's connection: each reply resolves the future of its request id.

    A pending future gets None when the connection ends (no exception, so that no
    future is left holding one that nobody retrieves).  ``on_lost`` is called once
    the connection is gone.
    """

    def __init__(self) -> None:
        super().__init__()
        self._pending: dict[object, asyncio.Future[Frame | None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self.on_lost: Callable[[], None] | None = None
        #: Called with each pushed slots snapshot (see the module docstring).
        self.on_slots: Callable[[Mapping[str, Any]], None] | None = None

    async def request(self, call_id: int, header: dict[str, Any],
                      tensors: Sequence[np.ndarray]) -> Frame:
        """Send one request and wait for its reply; EngineLost if the connection ends.

        If the caller is cancelled, the engine is told to cancel the request too.
        """
        future: asyncio.Future[Frame | None] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        try:
            await self.send({**header, "id": call_id}, tensors)
            reply = await future
        except ConnectionError as exc:
            raise EngineLost(LOST_MESSAGE) from exc
        except asyncio.CancelledError:
            if self.alive:
                self._in_background(self._send_cancel(call_id))
            raise
        finally:
            self._pending.pop(call_id, None)
        if reply is None:
            raise EngineLost(LOST_MESSAGE)
        return reply

    def frame_received(self, header: dict[str, Any], tensors: list[np.ndarray]) -> None:
        if header.get("push") == "slots":
            if self.on_slots is not None:
                self.on_slots(header)
            return
        future = self._pending.get(header.get("id"))
        if future is not None and not future.done():
            future.set_result((header, tensors))

    def lost(self) -> None:
        if not self._closing:
            log.warning("engine connection lost (%d calls pending)", len(self._pending))
        for future in self._pending.values():
            if not future.done():
                future.set_result(None)
        if self.on_lost is not None:
            self.on_lost()

    async def close(self) -> None:
        for task in self._background:
            task.cancel()
        await super().close()

    async def _send_cancel(self, call_id: int) -> None:
        with contextlib.suppress(ConnectionError):
            await self.send({"op": "cancel", "id": call_id}, ())

    def _in_background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)  # a reference, or the task may be collected mid-flight
        task.add_done_callback(self._background.discard)


LOST_MESSAGE = "lost the connection to the engine (it may be restarting)"


class EngineClient:
    """The front-end's :class:`~ocrserve.engine.protocol.Inference`: an engine process.

    :meth:`start` waits up to ``connect_timeout_s`` for the engine to come up (it
    loads its models first).  When the connection drops (the engine died; the
    supervisor restarts it) a background task reconnects every RETRY_INTERVAL_S
    and :meth:`ready` is False until it has.  A call made meanwhile waits for the
    engine up to ``restart_wait_s`` (and never past its deadline); a call whose
    connection dropped under it is sent once more on the new one.  Sending twice
    is harmless: inference only computes, and slot operations carry an operation
    id the engine applies once.  A restart therefore costs callers latency, not
    errors, unless it outlasts the wait (then UNAVAILABLE with a retry delay).

    :meth:`slots` follows the engine: every change, made through this client or
    any other front-end's, arrives as a pushed snapshot.  :attr:`slots_version`
    counts the changes this client has seen and :meth:`wait_slots_changed` waits
    for the next one (a restarted engine counts as a change).
    """

    def __init__(self, path: str, *, connect_timeout_s: float = 120.0,
                 restart_wait_s: float = 5.0, heartbeat_timeout_s: float = 0.0) -> None:
        """``heartbeat_timeout_s`` > 0: not :meth:`ready` while the engine's heartbeat
        (``engine/heartbeat.py``) is older than that, connected or not."""
        self.path = path
        self._heartbeat = heartbeat_path(path)
        self._heartbeat_timeout_s = heartbeat_timeout_s
        self._hung = False
        self._hung_checked_at = -float("inf")
        self._connect_timeout_s = connect_timeout_s
        self._restart_wait_s = restart_wait_s
        self._link: _Link | None = None
        self._up = asyncio.Event()
        self._reconnecting: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._slots: dict[str, SlotInfo] = {}
        self._snapshot: tuple[str, int] | None = None  # (epoch, version) of _slots
        self._changes = 0
        self._change_waiters: list[asyncio.Future[int]] = []
        self._closed = False

    async def start(self) -> None:
        """Connect (retrying while the engine loads) and fetch the slots."""
        give_up_at = time.monotonic() + self._connect_timeout_s
        while True:
            try:
                link = await self._open()
                break
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                if time.monotonic() >= give_up_at:
                    raise Unavailable(f"no engine at {self.path} after "
                                      f"{self._connect_timeout_s:g}s: {exc}") from exc
                await asyncio.sleep(RETRY_INTERVAL_S)
        await self._attach(link)

    def ready(self) -> bool:
        """Connected to the engine (and not closed), and the engine not hung."""
        return self._up.is_set() and not self._closed and not self.hung()

    def hung(self) -> bool:
        """The heartbeat's verdict, read from disk at most once per beat: ``ready`` is
        asked for every call the router places."""
        if self._heartbeat_timeout_s <= 0:
            return False
        now = time.monotonic()
        if now - self._hung_checked_at >= HEARTBEAT_INTERVAL_S:
            silence = silent_for(self._heartbeat)
            self._hung = silence is not None and silence > self._heartbeat_timeout_s
            self._hung_checked_at = now
        return self._hung

    async def refresh(self) -> None:
        """Fetch the engine's slots now (their use times move without a push)."""
        reply, _ = await self._call({"op": "describe"})
        self._apply(reply)

    def slots(self) -> Mapping[str, SlotInfo]:
        """The slots as of the last snapshot: pushed, in a reply, or fetched."""
        return self._slots

    @property
    def slots_version(self) -> int:
        return self._changes

    async def wait_slots_changed(self, after: int) -> int:
        """:attr:`slots_version` once it is past ``after`` (at once if it already is)."""
        while self._changes <= after:
            waiter = asyncio.get_running_loop().create_future()
            self._change_waiters.append(waiter)
            await waiter
        return self._changes

    async def load_slot(self, slot: str, spec: str, *,
                        request_id: str | None = None) -> SlotInfo:
        """The engine's :meth:`~ocrserve.engine.engine.Engine.load_slot`."""
        return await self._slot_op({"op": "load_slot", "slot": slot, "spec": spec}, request_id)

    async def swap_slot(self, slot: str, spec: str, *, expected_version: int | None = None,
                        request_id: str | None = None) -> SlotInfo:
        """The engine's :meth:`~ocrserve.engine.engine.Engine.swap_slot`."""
        return await self._slot_op({"op": "swap_slot", "slot": slot, "spec": spec,
                                    "expected_version": expected_version}, request_id)

    async def unload_slot(self, slot: str, *, expected_version: int | None = None,
                          request_id: str | None = None) -> SlotInfo:
        """The engine's :meth:`~ocrserve.engine.engine.Engine.unload_slot`."""
        return await self._slot_op({"op": "unload_slot", "slot": slot,
                                    "expected_version": expected_version}, request_id)

    async def infer(self, slot: str, items: Sequence[np.ndarray], *,
                    priority: Priority = Priority.NORMAL,
                    deadline: float | None = None) -> Inferred:
        reply, outputs = await self._call(
            {"op": "infer", "slot": slot, "priority": int(priority)}, items, deadline)
        models = tuple(ModelVersion(str(name), int(version)) for name, version in reply["models"])
        return Inferred(outputs, models)

    async def echo(self, tensors: Sequence[np.ndarray]) -> list[np.ndarray]:
        """``tensors`` back from the engine process, untouched: the transport's cost alone."""
        _, outputs = await self._call({"op": "echo"}, tensors)
        return outputs

    async def batch_stats(self) -> dict[str, Any]:
        """The engine's ``stats()`` as JSON: dataclasses as dicts, keys as strings."""
        reply, _ = await self._call({"op": "stats"})
        stats: dict[str, Any] = reply["stats"]
        return stats

    async def close(self) -> None:
        self._closed = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        if self._link is not None:
            await self._link.close()

    # -------------------------------------------------------------- internals

    async def _slot_op(self, header: dict[str, Any], operation_id: str | None) -> SlotInfo:
        operation_id = operation_id or f"client-{uuid.uuid4().hex}"
        reply, _ = await self._call({**header, "operation_id": operation_id})
        self._apply(reply)
        return SlotInfo.from_dict(reply["slot"])

    def _apply(self, snapshot: Mapping[str, Any]) -> None:
        """Take ``snapshot`` (pushed or in a reply) unless it is older than the slots held."""
        key = (str(snapshot.get("epoch", "")), int(snapshot.get("version", 0)))
        held = self._snapshot
        if held is not None and held[0] == key[0] and held[1] > key[1]:
            return
        self._slots = {d["slot"]: SlotInfo.from_dict(d) for d in snapshot["slots"]}
        if key == held:  # the same version again: only use times moved
            return
        self._snapshot = key
        self._changes += 1
        waiters, self._change_waiters = self._change_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(self._changes)

    async def _call(self, header: dict[str, Any], tensors: Sequence[np.ndarray] = (),
                    deadline: float | None = None) -> Frame:
        """One request, sent again once if the connection drops under it."""
        for attempt in (1, 2):
            link = await self._live_link(deadline)
            # The deadline travels as the time left, so the two clocks need not agree.
            request = {**header, "request_id": request_id.get(),
                       "timeout_s": None if deadline is None else _time_left(deadline)}
            try:
                reply, outputs = await link.request(next(self._ids), request, tensors)
            except EngineLost:
                if attempt == 2 or self._closed:
                    raise
                log.info("engine connection lost during a call; sending it again")
                continue
            if not reply.get("ok"):
                error = reply.get("error")
                raise error_from_dict(error if isinstance(error, Mapping) else {})
            return reply, outputs
        raise AssertionError("unreachable")

    async def _live_link(self, deadline: float | None) -> _Link:
        """The connection, waiting (within the deadline) while the engine restarts."""
        if self._closed:
            raise Unavailable("the engine client is closed", reason=Reason.SERVER_DRAINING)
        if not self._up.is_set():
            wait = self._restart_wait_s
            if deadline is not None:
                wait = min(wait, _time_left(deadline))
            try:
                await asyncio.wait_for(self._up.wait(), wait)
            except TimeoutError:
                if deadline is not None and _time_left(deadline) <= 0:
                    raise DeadlineExceeded("deadline passed while the engine restarted"
                                           ) from None
                raise Unavailable("the engine is restarting; retry shortly") from None
        assert self._link is not None
        return self._link

    async def _attach(self, link: _Link) -> None:
        """Use ``link`` from now on: fetch the slots over it, then mark the engine up."""
        link.on_slots = self._apply
        reply, _ = await link.request(next(self._ids), {"op": "describe"}, ())
        if not reply.get("ok"):
            raise error_from_dict(reply.get("error") or {})
        self._apply(reply)
        self._link = link
        link.on_lost = self._lost
        if link.alive:
            self._up.set()
        else:
            self._lost()

    def _lost(self) -> None:
        self._up.clear()
        if not self._closed and (self._reconnecting is None or self._reconnecting.done()):
            self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        while not self._closed:
            try:
                await self._attach(await self._open())
                log.info("engine at %s is back", self.path)
                return
            except (OSError, Unavailable):
                await asyncio.sleep(RETRY_INTERVAL_S)

    async def _open(self) -> _Link:
        _, link = await asyncio.get_running_loop().create_unix_connection(_Link, self.path)
        return link


def _time_left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded("deadline passed before the request reached the engine")
    return left
