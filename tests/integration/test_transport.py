"""EngineServer and EngineClient on a real Unix socket, around a small real engine.

``Doubler`` stands in for the engine: the transport is under test, not models.
Most tests run both ends on one event loop; one runs the server in a spawned
child process, as in production.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from multiprocessing.synchronize import Event as ProcessEvent
from pathlib import Path

import numpy as np
import pytest

from ocrserve.context import request_id
from ocrserve.engine import wire
from ocrserve.engine.batcher import BatcherStats
from ocrserve.engine.policy import Priority
from ocrserve.engine.protocol import Inferred, ModelVersion, SlotInfo
from ocrserve.engine.transport import EngineClient, EngineServer
from ocrserve.errors import (
    DeadlineExceeded,
    ModelError,
    NotFound,
    Reason,
    ResourceExhausted,
    Unavailable,
)

SLOTS = {
    "det": SlotInfo("det", "det", "ch_PP-OCRv2_det", 1, "onnxruntime", "cpu", (3, None, None)),
    "rec": SlotInfo("rec", "rec", "ch_PP-OCRv2_rec", 2, "paddle", "cpu", (3, 32, None),
                    dictionary="/models/ppocr_keys_v1.txt"),
}


class Doubler:
    """Returns each item times two.  Slot "det" waits at ``gate`` (closed until set)."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.calls: list[tuple[str, int, float | None]] = []
        self.request_ids: list[str] = []

    def slots(self) -> Mapping[str, SlotInfo]:
        return SLOTS

    def stats(self) -> Mapping[str, object]:
        return {"det": BatcherStats(name="det", batches=1, items=2, batch_sizes={2: 1})}

    async def infer(self, slot: str, items: Sequence[np.ndarray], *,
                    priority: Priority = Priority.NORMAL,
                    deadline: float | None = None) -> Inferred:
        self.request_ids.append(request_id.get())
        if slot == "broken":
            raise RuntimeError("kaput")
        if slot == "full":
            raise ResourceExhausted("queue full", field="images",
                                    metadata={"limit": 4, "value": 5})
        if slot not in SLOTS:
            raise NotFound(f"no slot named {slot!r}")
        self.calls.append((slot, priority, deadline))
        if slot == "det":
            self.entered.set()
            try:
                await self.gate.wait()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        info = SLOTS[slot]
        return Inferred([item * 2 for item in items], (ModelVersion(info.model, info.version),))


Scenario = Callable[[Doubler, EngineClient, EngineServer], Awaitable[None]]


def run(path: Path, scenario: Scenario) -> None:
    """Run ``scenario`` against a started server and client on one event loop."""
    async def main() -> None:
        async with asyncio.timeout(5):
            engine = Doubler()
            server = EngineServer(engine, str(path))
            await server.start()
            client = EngineClient(str(path), connect_timeout_s=1)
            try:
                await client.start()
                await scenario(engine, client, server)
            finally:
                await client.close()
                await server.close(grace_s=0)
    asyncio.run(main())


@pytest.fixture
def sock(tmp_path: Path) -> Path:
    return tmp_path / "engine.sock"


def items(count: int = 2) -> list[np.ndarray]:
    rng = np.random.default_rng(count)
    return [rng.random((3, 32, 40 + 8 * i), dtype=np.float32) for i in range(count)]


def test_the_engine_hears_when_it_goes_busy_and_idle(sock: Path) -> None:
    """What the engine's IdleTrim is driven by: busy when a call arrives with none in
    flight, idle when the last one ends; overlapping calls make one busy period."""
    events: list[str] = []

    async def main() -> None:
        async with asyncio.timeout(5):
            engine = Doubler()
            server = EngineServer(engine, str(sock), on_idle=lambda: events.append("idle"),
                                  on_busy=lambda: events.append("busy"))
            await server.start()
            client = EngineClient(str(sock), connect_timeout_s=1)
            try:
                await client.start()
                events.clear()  # the client's own describe call on connecting
                await client.infer("rec", items(1))
                await asyncio.gather(client.infer("rec", items(1)), client.infer("rec", items(2)))
                await asyncio.sleep(0.05)  # the idle callback follows the reply
            finally:
                await client.close()
                await server.close(grace_s=0)
    asyncio.run(main())
    assert events == ["busy", "idle", "busy", "idle"]


def test_slots_are_described_and_results_come_back_equal(sock: Path) -> None:
    async def scenario(engine: Doubler, client: EngineClient, server: EngineServer) -> None:
        assert client.slots() == SLOTS
        sent = [*items(2), np.arange(6, dtype=np.int32).reshape(2, 3)]
        inferred = await client.infer("rec", sent, priority=Priority.HIGH)
        results = inferred.outputs
        assert inferred.models == (ModelVersion("ch_PP-OCRv2_rec", 2),)
        assert len(results) == 3
        for item, result in zip(sent, results, strict=True):
            assert result.dtype == item.dtype
            np.testing.assert_array_equal(result, item * 2)
        assert engine.calls == [("rec", Priority.HIGH, None)]
    run(sock, scenario)


def test_concurrent_requests_are_answered_out_of_order(sock: Path) -> None:
    async def scenario(engine: Doubler, client: EngineClient, server: EngineServer) -> None:
        slow = asyncio.create_task(client.infer("det", items(1)))
        await engine.entered.wait()
        (fast,) = (await client.infer("rec", items(1))).outputs  # answered while det is held
        np.testing.assert_array_equal(fast, items(1)[0] * 2)
        assert not slow.done()
        engine.gate.set()
        (held,) = (await slow).outputs
        np.testing.assert_array_equal(held, items(1)[0] * 2)
    run(sock, scenario)


def test_engine_errors_keep_their_status_and_the_connection_survives(sock: Path) -> None:
    async def scenario(engine: Doubler, client: EngineClient, server: EngineServer) -> None:
        with pytest.raises(NotFound, match="no slot named 'cls'"):
            await client.infer("cls", items(1))
        with pytest.raises(ModelError, match="RuntimeError: kaput"):  # not an OcrError: INTERNAL
            await client.infer("broken", items(1))
        with pytest.raises(ResourceExhausted) as info:
            await client.infer("full", items(1))
        error = info.value  # every detail crosses the process boundary
        assert (error.reason, error.field, error.retry_after_s) == (Reason.QUEUE_FULL, "images",
                                                                    1.0)
        assert error.metadata == {"limit": "4", "value": "5"}
        assert len((await client.infer("rec", items(1))).outputs) == 1
    run(sock, scenario)


def test_the_request_id_travels_with_each_call(sock: Path) -> None:
    async def scenario(engine: Doubler, client: EngineClient, server: EngineServer) -> None:
        request_id.set("req-42")
        await client.infer("rec", items(1))
        request_id.set("req-43")
        await client.infer("rec", items(1))
        assert engine.request_ids == ["req-42", "req-43"]
    run(sock, scenario)


def test_deadlines_cross_as_time_left_and_a_passed_one_is_not_sent(sock: Path) -> None:
    async def scenario(engine: Doubler, client: EngineClient, server: EngineServer) -> None:
        with pytest.raises(DeadlineExceeded):
            await client.infer("rec", items(1), deadline=time.monotonic() - 0.001)
        assert engine.calls == []  # no round trip
        deadline = time.monotonic() + 30
        await client.infer("rec", items(1), deadline=deadline)
        ((_, _, received),) = engine.calls
        assert received is not None and abs(received - deadline) < 0.5
    run(sock, scenario)


def test_cancelling_the_caller_cancels_the_engine_side_task(sock: Path) -> None:
    async def scenario(engine: Doubler, client: EngineClient, server: EngineServer) -> None:
        call = asyncio.create_task(client.infer("det", items(1)))
        await engine.entered.wait()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        await asyncio.wait_for(engine.cancelled.wait(), 1)
        assert len((await client.infer("rec", items(1))).outputs) == 1
    run(sock, scenario)


def test_a_caller_cancelled_while_its_frame_is_written_leaves_the_stream_in_sync(
        sock: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(engine: Doubler, client: EngineClient, server: EngineServer) -> None:
        big = np.ones((3, 1024, 1024), np.float32)  # 12 MB: many socket buffers
        call = asyncio.create_task(client.infer("rec", [big]))
        for _ in range(3):  # the frame is being written, not finished
            await asyncio.sleep(0)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        small = items(1)
        result = (await client.infer("rec", small)).outputs
        np.testing.assert_array_equal(result[0], small[0] * 2)
    run(sock, scenario)
    # not answered over a new connection: the first one never broke
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


def test_stats_arrive_as_plain_json(sock: Path) -> None:
    async def scenario(engine: Doubler, client: EngineClient, server: EngineServer) -> None:
        stats = await client.batch_stats()
        assert stats["det"]["items"] == 2
        assert stats["det"]["batch_sizes"] == {"2": 1}
    run(sock, scenario)


def test_calls_wait_out_an_engine_restart_and_lost_ones_are_sent_again(sock: Path) -> None:
    async def scenario(engine: Doubler, client: EngineClient, server: EngineServer) -> None:
        pending = asyncio.create_task(client.infer("det", items(1)))  # held at the gate
        await engine.entered.wait()
        assert client.ready()
        await server.close(grace_s=0)  # the engine "dies" with the call in flight
        await asyncio.sleep(0.05)
        assert not client.ready() and not sock.exists()
        waiting = asyncio.create_task(client.infer("rec", items(1)))  # made while it is down
        await asyncio.sleep(0.2)
        assert not pending.done() and not waiting.done()

        restarted = Doubler()
        restarted.gate.set()
        again = EngineServer(restarted, str(sock))
        await again.start()
        try:
            (lost,) = (await pending).outputs  # sent again on the new connection
            (late,) = (await waiting).outputs
            np.testing.assert_array_equal(lost, items(1)[0] * 2)
            np.testing.assert_array_equal(late, items(1)[0] * 2)
            assert client.ready() and client.slots() == SLOTS
            assert [slot for slot, *_ in restarted.calls] == ["det", "rec"]
        finally:
            await again.close()
    run(sock, scenario)


def test_an_engine_that_stays_down_fails_calls_after_the_restart_wait(sock: Path) -> None:
    async def main() -> None:
        server = EngineServer(Doubler(), str(sock))
        await server.start()
        client = EngineClient(str(sock), connect_timeout_s=1, restart_wait_s=0.3)
        await client.start()
        await server.close(grace_s=0)
        await asyncio.sleep(0.05)
        with pytest.raises(Unavailable, match="restarting") as info:
            await client.infer("rec", items(1))
        assert info.value.reason == Reason.ENGINE_UNAVAILABLE and info.value.transient
        with pytest.raises(DeadlineExceeded):  # never waits past the caller's deadline
            await client.infer("rec", items(1), deadline=time.monotonic() + 0.1)
        await client.close()
    asyncio.run(main())


def test_start_waits_for_a_loading_engine_and_gives_up_after_the_timeout(sock: Path) -> None:
    async def main() -> None:
        with pytest.raises(Unavailable, match="no engine at"):
            await EngineClient(str(sock), connect_timeout_s=0.2).start()

        server = EngineServer(Doubler(), str(sock))
        client = EngineClient(str(sock), connect_timeout_s=5)
        starting = asyncio.create_task(client.start())
        await asyncio.sleep(0.3)  # the engine is still "loading its models"
        await server.start()
        await starting
        assert client.slots() == SLOTS
        await client.close()
        await server.close()
    asyncio.run(main())


def test_a_peer_that_breaks_the_frame_format_is_dropped_alone(sock: Path) -> None:
    async def scenario(engine: Doubler, client: EngineClient, server: EngineServer) -> None:
        reader, writer = await asyncio.open_unix_connection(str(sock))
        writer.write(wire.PREFIX.pack(0, 0))  # a header can never be empty
        assert await reader.read() == b""  # the server hung up
        writer.close()
        assert len((await client.infer("rec", items(1))).outputs) == 1
    run(sock, scenario)


# ------------------------------------------------------------------ across processes


def serve_in_child(path: str, ready: ProcessEvent) -> None:
    """Child process: serve a Doubler until killed."""
    async def main() -> None:
        server = EngineServer(Doubler(), path)
        await server.start()
        ready.set()
        await asyncio.Event().wait()
    asyncio.run(main())


def test_a_server_in_another_process_serves_and_survives_a_restart(sock: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    children: list[multiprocessing.process.BaseProcess] = []

    async def spawn() -> None:
        ready = ctx.Event()
        child = ctx.Process(target=serve_in_child, args=(str(sock), ready), daemon=True)
        child.start()
        children.append(child)
        assert await asyncio.to_thread(ready.wait, 10)

    async def main() -> None:
        loading = asyncio.create_task(spawn())
        client = EngineClient(str(sock), connect_timeout_s=10)
        await client.start()  # retries until the child has bound the socket
        await loading
        try:
            (result,) = (await client.infer("rec", items(1))).outputs
            np.testing.assert_array_equal(result, items(1)[0] * 2)
            big = np.random.default_rng(0).random(1 << 20, dtype=np.float32)  # 4 MB
            (echoed,) = await client.echo([big])
            np.testing.assert_array_equal(echoed, big)

            pending = asyncio.create_task(client.infer("det", items(1)))  # held at the gate
            await asyncio.sleep(0.05)
            children[0].kill()
            await asyncio.sleep(0.1)
            assert not client.ready() and not pending.done()

            await spawn()
            with pytest.raises(asyncio.TimeoutError):  # sent again, held at the new gate
                await asyncio.wait_for(asyncio.shield(pending), 0.3)
            pending.cancel()
            (result,) = (await client.infer("rec", items(1))).outputs
            np.testing.assert_array_equal(result, items(1)[0] * 2)
        finally:
            await client.close()

    try:
        asyncio.run(main())
    finally:
        for child in children:
            child.kill()
            child.join(5)
