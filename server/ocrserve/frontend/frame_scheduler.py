"""Backpressure, drops and ordering for one stream of frames (StreamOcr).

The scheduler knows nothing of OCR or gRPC: the stream's reader offers each
frame, a ``process`` coroutine turns a frame into its response, and
:meth:`FrameScheduler.responses` yields one response per frame in the order
the frames came.  Its rules:

- At most ``max_in_flight`` frames are processed at once.  A frame offered as
  needing no place (one already found to repeat another, which only waits for
  that frame's lines) starts at once whatever the policy, takes no place and
  cannot be dropped; it still counts in :attr:`in_server`.
- Policy ``block``: :meth:`~FrameScheduler.offer` returns only once the frame
  has started, so the reader stops reading while the stream is full and gRPC's
  flow control holds the sender back.  Nothing is dropped.
- Policy ``latest``: :meth:`~FrameScheduler.offer` returns at once.  When the
  stream is full the frame waits, and a frame already waiting is dropped
  (``superseded``): only the newest waiting frame matters to a live source.
  A waiting frame older than ``max_staleness_s`` when room comes is dropped
  (``stale``).
- Responses wait for the frames before them.  At most ``max_backlog`` frames
  may be unanswered (processed, waiting or dropped); beyond that the reader
  waits too, so a caller that does not read its responses cannot make the
  server hold an unbounded queue.

What a stream holds is therefore bounded by ``max_in_flight`` frames being
processed, one waiting, and ``max_backlog`` small responses or frames that need no
place (the stream keeps no decoded image for those).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

F = TypeVar("F")
R = TypeVar("R")

#: Unanswered frames per stream before the reader waits.
MAX_BACKLOG = 64


class Policy(StrEnum):
    LATEST = "latest"
    BLOCK = "block"


class DropReason(StrEnum):
    SUPERSEDED = "superseded"  # a newer frame arrived while it waited
    STALE = "stale"  # it waited longer than max_staleness_s


@dataclass(frozen=True)
class Pacing:
    """How one frame is to be scheduled (a stream's config may change between frames)."""

    policy: Policy = Policy.LATEST
    max_in_flight: int = 2
    max_staleness_s: float = 0.0  # 0: no limit


@dataclass(eq=False)
class _Waiting(Generic[F, R]):
    frame: F
    pacing: Pacing
    received: float
    response: asyncio.Future[R]


class FrameScheduler(Generic[F, R]):
    def __init__(self, process: Callable[[F], Awaitable[R]],
                 dropped: Callable[[F, DropReason], R], *, max_backlog: int = MAX_BACKLOG,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``process(frame)`` makes a frame's response (its errors are its own to turn
        into a response: one that escapes ends the stream); ``dropped(frame, why)``
        makes the response of a frame that was not processed."""
        self._process = process
        self._dropped = dropped
        self._max_backlog = max_backlog
        self._clock = clock
        self._order: deque[asyncio.Future[R]] = deque()
        self._waiting: _Waiting[F, R] | None = None
        self._running: set[asyncio.Task[None]] = set()  # holding a place
        self._free: set[asyncio.Task[None]] = set()  # needing none
        self._wake = asyncio.Event()
        self._finished = False

    @property
    def in_server(self) -> int:
        """Frames being processed or waiting."""
        return len(self._running) + len(self._free) + (self._waiting is not None)

    async def offer(self, frame: F, pacing: Pacing, *, needs_place: bool = True) -> None:
        """Take the next frame of the stream; see the module docstring for when this
        returns and what ``needs_place`` False means."""
        while len(self._order) >= self._max_backlog:
            await self._changed()
        response: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._order.append(response)
        entry = _Waiting(frame, pacing, self._clock(), response)
        if not needs_place:
            self._start(entry, self._free)
        elif pacing.policy is Policy.BLOCK:
            while len(self._running) >= pacing.max_in_flight or self._waiting is not None:
                await self._changed()
            self._start(entry, self._running)
        elif len(self._running) < pacing.max_in_flight and self._waiting is None:
            self._start(entry, self._running)
        else:
            if self._waiting is not None:
                self._drop(self._waiting, DropReason.SUPERSEDED)
            self._waiting = entry

    def finish(self) -> None:
        """The stream has no more frames: :meth:`responses` ends after the last one."""
        self._finished = True
        self._notify()

    async def responses(self) -> AsyncIterator[R]:
        """Each frame's response, in the order the frames were offered."""
        while True:
            if not self._order:
                if self._finished:
                    return
                await self._changed()
                continue
            response = await asyncio.shield(self._order[0])
            self._order.popleft()
            self._notify()
            yield response

    async def close(self) -> None:
        """Stop everything this stream started (the caller went away)."""
        self._waiting = None
        tasks = [*self._running, *self._free]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for response in self._order:
            if not response.done():
                response.cancel()
        self._order.clear()

    # ------------------------------------------------------------ internals

    def _start(self, entry: _Waiting[F, R], tasks: set[asyncio.Task[None]]) -> None:
        """Process ``entry`` in a task kept in ``tasks`` (``_running``: it holds a place)."""
        task = asyncio.create_task(self._run(entry))
        tasks.add(task)
        task.add_done_callback(self._ended)

    async def _run(self, entry: _Waiting[F, R]) -> None:
        try:
            result = await self._process(entry.frame)
        except Exception as exc:  # a bug in process: the stream fails with it
            if not entry.response.done():
                entry.response.set_exception(exc)
        else:
            if not entry.response.done():
                entry.response.set_result(result)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._free.discard(task)
        self._make_room()

    def _make_room(self) -> None:
        """A place may have come free: start the waiting frame (or drop it, stale)."""
        waiting = self._waiting
        if waiting is not None and len(self._running) < waiting.pacing.max_in_flight:
            self._waiting = None
            staleness = waiting.pacing.max_staleness_s
            if staleness and self._clock() - waiting.received > staleness:
                self._drop(waiting, DropReason.STALE)
            else:
                self._start(waiting, self._running)
        self._notify()

    def _drop(self, entry: _Waiting[F, R], why: DropReason) -> None:
        if not entry.response.done():
            entry.response.set_result(self._dropped(entry.frame, why))

    def _notify(self) -> None:
        self._wake.set()
        self._wake = asyncio.Event()

    async def _changed(self) -> None:
        await self._wake.wait()
