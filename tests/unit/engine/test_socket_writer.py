"""SocketWriter on a real Unix socket pair: large writes arrive whole, failures are clear."""

from __future__ import annotations

import asyncio
import socket
import threading

import numpy as np
import pytest

from ocrserve.engine.socket_writer import SocketWriter


def _drain(sock: socket.socket, into: bytearray) -> None:
    """Read until EOF in small pieces, so the writer meets a full socket many times."""
    while chunk := sock.recv(64 * 1024):
        into += chunk


def test_a_frame_far_larger_than_the_socket_buffer_arrives_whole() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    tensor = np.random.default_rng(0).random(4 << 20, dtype=np.float32)  # 16 MB
    received = bytearray()
    reader = threading.Thread(target=_drain, args=(theirs, received))
    reader.start()

    async def main() -> None:
        writer = SocketWriter(ours)
        await writer.write([b"head", tensor.view(np.uint8).data, b"", b"tail"])
        writer.close()

    asyncio.run(main())
    ours.close()  # the writer's duplicate is closed: the reader now sees EOF
    reader.join(timeout=10)
    assert not reader.is_alive()
    assert bytes(received) == b"head" + tensor.tobytes() + b"tail"
    theirs.close()


def test_closing_wakes_a_write_stuck_on_a_full_socket() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)

    async def main() -> None:
        writer = SocketWriter(ours)
        stuck = asyncio.create_task(writer.write([bytes(8 << 20)]))  # nobody reads
        await asyncio.sleep(0.05)
        assert not stuck.done()
        writer.close()
        with pytest.raises(ConnectionResetError, match="closed"):
            await asyncio.wait_for(stuck, 1)

    asyncio.run(main())
    ours.close()
    theirs.close()


def test_writing_to_a_departed_peer_is_a_connection_reset() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    theirs.close()

    async def main() -> None:
        writer = SocketWriter(ours)
        with pytest.raises(ConnectionResetError, match="Broken pipe"):
            await writer.write([b"hello"])
        writer.close()

    asyncio.run(main())
    ours.close()
