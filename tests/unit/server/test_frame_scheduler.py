"""The stream pacing rules of frame_scheduler.py, on plain integers as frames: order,
in-flight limits, drops under ``latest``, none under ``block``, staleness, the backlog
bound, and cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from ocrserve.frontend.frame_scheduler import DropReason, FrameScheduler, Pacing, Policy

Response = tuple[int, str]


class Worker:
    """``process`` for the scheduler: each frame waits until the test releases it."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.gates: dict[int, asyncio.Event] = {}
        self.running = 0
        self.most_running = 0

    async def process(self, frame: int) -> Response:
        self.started.append(frame)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        gate = self.gates.setdefault(frame, asyncio.Event())
        try:
            await gate.wait()
        finally:
            self.running -= 1
        return frame, "processed"

    def release(self, frame: int) -> None:
        self.gates.setdefault(frame, asyncio.Event()).set()


def dropped(frame: int, why: DropReason) -> Response:
    return frame, f"dropped:{why}"


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        async with asyncio.timeout(10):
            await scenario()
    asyncio.run(main())


async def collect(scheduler: FrameScheduler[int, Response]) -> list[Response]:
    return [r async for r in scheduler.responses()]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_latest_keeps_only_the_newest_waiting_frame_and_answers_in_order() -> None:
    async def scenario() -> None:
        worker = Worker()
        scheduler: FrameScheduler[int, Response] = FrameScheduler(worker.process, dropped)
        answers = asyncio.create_task(collect(scheduler))
        pacing = Pacing(Policy.LATEST, max_in_flight=1)
        for frame in range(5):  # 0 runs; 1, 2, 3 each replace the one before; 4 waits
            await scheduler.offer(frame, pacing)
        await settle()
        assert worker.started == [0] and scheduler.in_server == 2
        worker.release(0)
        await settle()
        assert worker.started == [0, 4]
        worker.release(4)
        scheduler.finish()
        assert await answers == [(0, "processed"), (1, "dropped:superseded"),
                                 (2, "dropped:superseded"), (3, "dropped:superseded"),
                                 (4, "processed")]
        assert scheduler.in_server == 0

    run(scenario)


def test_block_drops_nothing_and_holds_the_reader_while_full() -> None:
    async def scenario() -> None:
        worker = Worker()
        scheduler: FrameScheduler[int, Response] = FrameScheduler(worker.process, dropped)
        answers = asyncio.create_task(collect(scheduler))
        pacing = Pacing(Policy.BLOCK, max_in_flight=2)
        await scheduler.offer(0, pacing)
        await scheduler.offer(1, pacing)
        third = asyncio.create_task(scheduler.offer(2, pacing))
        await settle()
        assert not third.done() and worker.started == [0, 1]  # the reader waits
        worker.release(1)  # out of order: its answer still waits for frame 0
        await settle()
        assert third.done() and worker.started == [0, 1, 2]
        worker.release(0)
        worker.release(2)
        scheduler.finish()
        assert await answers == [(0, "processed"), (1, "processed"), (2, "processed")]
        assert worker.most_running == 2

    run(scenario)


def test_a_frame_that_waited_past_its_staleness_is_dropped() -> None:
    async def scenario() -> None:
        now = [0.0]
        worker = Worker()
        scheduler: FrameScheduler[int, Response] = FrameScheduler(
            worker.process, dropped, clock=lambda: now[0])
        answers = asyncio.create_task(collect(scheduler))
        pacing = Pacing(Policy.LATEST, max_in_flight=1, max_staleness_s=0.5)
        await scheduler.offer(0, pacing)
        await scheduler.offer(1, pacing)
        now[0] = 0.6
        worker.release(0)
        await settle()
        await scheduler.offer(2, pacing)  # fresh: it runs
        await settle()
        worker.release(2)
        scheduler.finish()
        assert await answers == [(0, "processed"), (1, "dropped:stale"), (2, "processed")]

    run(scenario)


def test_unanswered_frames_are_bounded_by_the_backlog() -> None:
    async def scenario() -> None:
        worker = Worker()
        scheduler: FrameScheduler[int, Response] = FrameScheduler(
            worker.process, dropped, max_backlog=3)
        pacing = Pacing(Policy.LATEST, max_in_flight=1)
        for frame in range(3):
            await scheduler.offer(frame, pacing)
        fourth = asyncio.create_task(scheduler.offer(3, pacing))
        await settle()
        assert not fourth.done()  # nobody reads the answers: the reader waits
        worker.release(0)
        answers = scheduler.responses()
        assert await anext(answers) == (0, "processed")
        assert await anext(answers) == (1, "dropped:superseded")
        await settle()
        assert fourth.done()
        await scheduler.close()

    run(scenario)


def test_close_cancels_the_frames_in_flight() -> None:
    async def scenario() -> None:
        worker = Worker()
        scheduler: FrameScheduler[int, Response] = FrameScheduler(worker.process, dropped)
        pacing = Pacing(Policy.BLOCK, max_in_flight=2)
        await scheduler.offer(0, pacing)
        await scheduler.offer(1, pacing)
        await settle()
        assert worker.running == 2
        await scheduler.close()
        assert worker.running == 0 and scheduler.in_server == 0

    run(scenario)


def test_an_error_escaping_process_fails_the_stream() -> None:
    async def scenario() -> None:
        async def broken(frame: int) -> Response:
            raise RuntimeError("bug")

        scheduler: FrameScheduler[int, Response] = FrameScheduler(broken, dropped)
        await scheduler.offer(0, Pacing())
        scheduler.finish()
        with pytest.raises(RuntimeError, match="bug"):
            await collect(scheduler)

    run(scenario)


def test_a_frame_that_needs_no_place_starts_at_once_and_is_never_dropped() -> None:
    """A repeat (it only waits for another frame's lines) neither waits for a place nor
    takes one, under either policy, and still counts as in the server."""
    async def scenario() -> None:
        worker = Worker()
        scheduler: FrameScheduler[int, Response] = FrameScheduler(worker.process, dropped)
        for policy in (Policy.BLOCK, Policy.LATEST):
            pacing = Pacing(policy, max_in_flight=1)
            base = 3 * (policy is Policy.LATEST)
            await scheduler.offer(base, pacing)  # holds the only place
            await scheduler.offer(base + 1, pacing, needs_place=False)
            await scheduler.offer(base + 2, pacing, needs_place=False)
            await settle()
            assert worker.started[-3:] == [base, base + 1, base + 2]
            assert scheduler.in_server == 3
            for frame in range(base, base + 3):
                worker.release(frame)
            await settle()
        scheduler.finish()
        assert await collect(scheduler) == [(n, "processed") for n in range(6)]
        assert worker.most_running == 3

    run(scenario)
