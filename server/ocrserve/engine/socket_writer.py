"""Writing frames to a non-blocking socket straight from the tensors' memory.

asyncio's socket transport (Python 3.11) copies whatever the kernel does not take
at once into its own bytearray, and a Unix socket takes ~200 KB: nearly all of a
detector input (8 MB for a 960x704 page) and of a page's crops was copied once
more, into freshly mapped memory that the kernel first has to fault in and zero.
Under load that was ~8 ms of a page's front-end CPU (BENCHMARKS.md).

:class:`SocketWriter` sends each buffer from its own memory and, when the socket
is full, waits until it is writable again, with nothing copied but by the kernel.
It writes on a duplicate of the transport's descriptor (asyncio lets no one else
watch a descriptor a transport owns); the transport still does all the reading
and the closing, and the duplicate is closed with it.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Sequence

from ocrserve.engine.wire import Buffer


class SocketWriter:
    """Sends buffers on a duplicate of ``sock`` without copying them.

    One ``write`` at a time (the caller serialises frames).  After :meth:`close`, or
    when the socket fails, ``write`` raises ConnectionResetError.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = socket.socket(sock.family, sock.type, fileno=os.dup(sock.fileno()))
        self._sock.setblocking(False)
        self._fd = self._sock.fileno()
        self._loop = asyncio.get_running_loop()
        self._wakeup: asyncio.Future[None] | None = None
        self._watching = False  # registered with the loop for writability
        self._closed = False

    async def write(self, buffers: Sequence[Buffer]) -> None:
        """Send all of ``buffers`` in order; return once the kernel holds the last byte."""
        try:
            for buffer in buffers:
                view = memoryview(buffer).cast("B")
                while view.nbytes:
                    view = view[self._send(view):]
                    if view.nbytes:
                        await self._writable()
        finally:
            self._unwatch()

    def close(self) -> None:
        """Close the duplicate; a write in progress wakes up and fails."""
        if self._closed:
            return
        self._unwatch()
        self._closed = True
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)
        self._sock.close()

    def _send(self, view: memoryview) -> int:
        if self._closed:
            raise ConnectionResetError("connection closed while sending")
        try:
            return self._sock.send(view)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as exc:  # EPIPE, ECONNRESET: the peer is gone
            raise ConnectionResetError(f"connection closed while sending: {exc}") from exc

    async def _writable(self) -> None:
        self._wakeup = self._loop.create_future()
        if not self._watching:
            self._loop.add_writer(self._fd, self._wake)
            self._watching = True
        await self._wakeup

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def _unwatch(self) -> None:
        if self._watching and not self._closed:
            self._loop.remove_writer(self._fd)
        self._watching = False
