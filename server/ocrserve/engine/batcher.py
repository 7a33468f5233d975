"""Dynamic batching: single items in, model-sized batches out, pure asyncio.

Callers ``await batcher.submit(payload, ...)`` (or ``submit_many`` for one request's
crops); one background task forms batches by the rules of :mod:`ocrserve.engine.policy`
and awaits ``run_batch(payloads)`` for each.  Payloads are opaque here.

Guarantees:

- At most one ``run_batch`` call is in flight per batcher (the device is serial).  Items
  submitted meanwhile wait, so under load batches fill without waiting for the delay.
- A batch holds 1..``max_batch_size`` items of one ``group_key``, passed in ascending
  ``sort_key`` order; each caller gets the result at its own item's position.
- Admission is immediate and all-or-nothing: ``Unavailable`` once ``close()`` began,
  ``DeadlineExceeded`` if the deadline already passed, ``ResourceExhausted`` if the queue
  would hold more than ``max_queue_size`` items.
- Every admitted item's caller gets exactly one outcome: its result; ``DeadlineExceeded``
  as soon as its deadline passes while queued, or would pass before a batch of its group
  could end (it never runs: the EWMA of that group's batch run times is the lead); the
  batch's error
  (``OcrError`` as raised, anything else as ``ModelError``, a result count that differs
  from the item count as ``ModelError`` for all); or ``Unavailable`` if the batcher stops
  before running it.  An item whose caller went away (future cancelled) is dropped before
  it runs.
- Items of one ``flow`` (one request) are taken round robin with other flows' (see
  :mod:`~ocrserve.engine.policy`), so a large request does not starve small ones, nor
  a stream of small ones a large one: a flow that arrives (or returns) starts level
  with the flow served furthest so far, as in start-time fair queueing, instead of at
  zero.  Counting from zero (least attained service) let every newcomer go ahead of a
  request half done: under a steady load of 720p frames at concurrency 8, the frames
  with the most lines took up to 36 s against a median of 2.8 s (BENCHMARKS.md).
- Every timing decision reads the injected monotonic ``clock``.  The background task
  sleeps until the next deadline or delay expiry and wakes on submit, cancellation and
  batch end: it never polls.  It starts on the first submit, so a batcher may be built
  outside a running loop.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence, Sized
from dataclasses import dataclass, field, replace
from typing import Any

from ocrserve.engine.policy import BatchPolicy, Priority, is_expired, next_wakeup, plan_batch
from ocrserve.errors import (
    DeadlineExceeded,
    InvalidInput,
    ModelError,
    OcrError,
    Reason,
    ResourceExhausted,
    Unavailable,
)

RunBatch = Callable[[list[Any]], Awaitable[Sequence[Any]]]

#: Weight of the newest batch in a group's run-time EWMA.
RUN_TIME_WEIGHT = 0.3
#: How long a flow's served count is kept after its last item ran: a request's
#: items come in bursts (one per image, say), and it must not start afresh at each.
FLOW_MEMORY_S = 30.0


@dataclass
class BatcherStats:
    """Counters since the batcher was built (monotonic) plus two gauges.

    ``batch_sizes`` maps batch size -> number of batches of that size (a histogram);
    ``queue_wait_s_sum`` sums, over items run, the time from admission to batch start.
    """

    name: str = ""
    queued: int = 0
    running: int = 0
    batches: int = 0
    items: int = 0
    batch_sizes: dict[int, int] = field(default_factory=dict)
    queue_wait_s_sum: float = 0.0
    failed_batches: int = 0
    dropped_deadline: int = 0
    dropped_cancelled: int = 0
    rejected_full: int = 0


@dataclass(eq=False)
class _Entry:
    payload: Any
    future: asyncio.Future[Any]
    group_key: Hashable
    sort_key: float
    priority: int
    deadline: float | None
    enqueued_at: float
    seq: int
    flow: Hashable


class DynamicBatcher:
    """Batches items for one model; see the module docstring for the guarantees."""

    def __init__(self, run_batch: RunBatch, policy: BatchPolicy, *,
                 clock: Callable[[], float] = time.monotonic, name: str = "",
                 observer: Callable[[Sequence[float]], None] | None = None) -> None:
        """``observer(queue_waits)`` hears of each batch that ran: how long each of its
        items waited from admission to the batch's start."""
        policy.validate()
        self.name = name
        self._observer = observer
        self._run_batch = run_batch
        self._policy = policy
        self._clock = clock
        self._groups: dict[Hashable, list[_Entry]] = {}
        self._running: list[_Entry] = []
        self._seq = itertools.count()
        self._stats = BatcherStats(name=name)
        #: Per group key, the EWMA of its batches' run time: how far ahead of its
        #: deadline an item is already too late.
        self._run_s: dict[Hashable, float] = {}
        #: Per flow: its next item's rank (its items run so far, counted from where it
        #: joined) and when the last one ran (see FLOW_MEMORY_S).
        self._served: dict[Hashable, int] = {}
        #: The furthest any flow has been served: where a flow with nothing queued joins.
        self._virtual = 0
        self._served_at: dict[Hashable, float] = {}
        self._closing = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def policy(self) -> BatchPolicy:
        return self._policy

    @property
    def stats(self) -> BatcherStats:
        """A snapshot: safe to keep, never updated afterwards."""
        return replace(self._stats, queued=self._queued(), running=len(self._running),
                       batch_sizes=dict(self._stats.batch_sizes))

    async def submit(self, payload: Any, *, group_key: Hashable = None, sort_key: float = 0.0,
                     priority: int = Priority.NORMAL, deadline: float | None = None,
                     flow: Hashable = None) -> Any:
        """Queue one item and return its result.  ``deadline`` is a ``clock`` time."""
        (future,) = self._admit([payload], [group_key], [sort_key], priority, deadline, flow)
        return await future

    async def submit_many(self, payloads: Sequence[Any], *,
                          group_keys: Sequence[Hashable] | None = None,
                          sort_keys: Sequence[float] | None = None,
                          priority: int = Priority.NORMAL,
                          deadline: float | None = None, flow: Hashable = None) -> list[Any]:
        """Queue one request's items (admitted all or none) and return results in order.

        ``flow`` names the request they belong to (None: a flow of their own).  The first
        failing item fails the call; its siblings still queued are dropped.
        """
        count = len(payloads)
        futures = self._admit(payloads,
                              [None] * count if group_keys is None else group_keys,
                              [0.0] * count if sort_keys is None else sort_keys,
                              priority, deadline, flow)
        try:
            return list(await asyncio.gather(*futures))
        finally:
            for future in futures:
                future.cancel()

    async def close(self) -> None:
        """Reject new work with Unavailable, run everything queued, stop the task.

        Queued groups run at once, without waiting for their delay.  Cancelling ``close``
        (e.g. with ``asyncio.timeout``) stops draining: what is left gets Unavailable.
        """
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task

    def _admit(self, payloads: Sequence[Any], group_keys: Sequence[Hashable],
               sort_keys: Sequence[float], priority: int, deadline: float | None,
               flow: Hashable) -> list[asyncio.Future[Any]]:
        count = len(payloads)
        if len(group_keys) != count or len(sort_keys) != count:
            raise InvalidInput(f"{count} payloads but {len(group_keys)} group keys and "
                               f"{len(sort_keys)} sort keys")
        if self._closing:
            raise Unavailable(f"batcher {self.name!r} is closing", reason=Reason.SERVER_DRAINING)
        now = self._clock()
        if deadline is not None and deadline <= now:
            raise DeadlineExceeded("deadline passed before the request was queued")
        self._drop_dead(now)
        if self._queued() + count > self._policy.max_queue_size:
            self._stats.rejected_full += count
            raise ResourceExhausted(
                f"slot {self.name!r} queue full: {self._queued()} queued, {count} more "
                f"would exceed {self._policy.max_queue_size}",
                metadata={"slot": self.name, "limit": self._policy.max_queue_size,
                          "value": self._queued() + count, "setting": "max_queue_size"})
        self._ensure_started()
        loop = asyncio.get_running_loop()
        flow = object() if flow is None else flow
        if not self._has_queued(flow):
            self._served[flow] = max(self._served.get(flow, 0), self._virtual)
            self._served_at.setdefault(flow, now)
        futures = []
        for payload, group_key, sort_key in zip(payloads, group_keys, sort_keys, strict=True):
            future = loop.create_future()
            future.add_done_callback(self._on_future_done)
            self._groups.setdefault(group_key, []).append(_Entry(
                payload, future, group_key, sort_key, priority, deadline, now, next(self._seq),
                flow))
            futures.append(future)
        self._wake.set()
        return futures

    def _ensure_started(self) -> None:
        if self._task is None or self._task.done():
            # A fresh Event: one used under an earlier event loop stays bound to it.
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(
                self._dispatch(), name=f"batcher:{self.name}")

    def _on_future_done(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            self._wake.set()  # let the dispatcher drop the item and recount the queue

    def _queued(self) -> int:
        return sum(len(entries) for entries in self._groups.values())

    def _has_queued(self, flow: Hashable) -> bool:
        return any(entry.flow == flow for entries in self._groups.values() for entry in entries)

    async def _dispatch(self) -> None:
        batch: asyncio.Task[None] | None = None
        try:
            while True:
                now = self._clock()
                self._drop_dead(now)
                idle = batch is None or batch.done()
                if idle:
                    if self._closing and not self._groups:
                        return
                    planned = plan_batch(self._groups, now, self._policy, draining=self._closing,
                                         served=self._served)
                    if planned is not None:
                        batch = asyncio.create_task(self._run(self._take(*planned, now)))
                        idle = False
                wake_at = next_wakeup(self._groups, self._policy, draining=self._closing,
                                      batch_running=not idle, lead=self._run_s)
                await self._sleep_until(wake_at)
        finally:
            if batch is not None:
                batch.cancel()
            self._fail_queued(Unavailable(f"batcher {self.name!r} stopped",
                                          reason=Reason.SERVER_DRAINING))

    async def _sleep_until(self, wake_at: float | None) -> None:
        delay = None if wake_at is None else max(0.0, wake_at - self._clock())
        try:
            async with asyncio.timeout(delay):
                await self._wake.wait()
        except TimeoutError:
            pass
        self._wake.clear()

    def _take(self, group_key: Hashable, chosen: list[_Entry], now: float) -> list[_Entry]:
        chosen_ids = {id(entry) for entry in chosen}
        rest = [entry for entry in self._groups[group_key] if id(entry) not in chosen_ids]
        if rest:
            self._groups[group_key] = rest
        else:
            del self._groups[group_key]
        stats = self._stats
        stats.batches += 1
        stats.items += len(chosen)
        stats.batch_sizes[len(chosen)] = stats.batch_sizes.get(len(chosen), 0) + 1
        stats.queue_wait_s_sum += sum(now - entry.enqueued_at for entry in chosen)
        self._count_service(chosen, now)
        self._running = chosen
        return chosen

    def _count_service(self, chosen: list[_Entry], now: float) -> None:
        for entry in chosen:
            self._served[entry.flow] = self._served.get(entry.flow, 0) + 1
            self._served_at[entry.flow] = now
            self._virtual = max(self._virtual, self._served[entry.flow])
        for flow, at in list(self._served_at.items()):
            if now - at > FLOW_MEMORY_S:
                del self._served[flow], self._served_at[flow]

    async def _run(self, batch: list[_Entry]) -> None:
        started = self._clock()
        try:
            results = await self._call([entry.payload for entry in batch])
            run_s = self._clock() - started
            self._learn_run_time(batch[0].group_key, run_s)
            if self._observer is not None:
                self._observer([started - entry.enqueued_at for entry in batch])
        except OcrError as exc:
            self._stats.failed_batches += 1
            _fail(batch, exc)
        except asyncio.CancelledError:
            _fail(batch, Unavailable(f"batcher {self.name!r} stopped during the batch",
                                     reason=Reason.SERVER_DRAINING))
            raise
        else:
            for entry, result in zip(batch, results, strict=True):
                if not entry.future.done():
                    entry.future.set_result(result)
        finally:
            self._running = []
            self._wake.set()

    async def _call(self, payloads: list[Any]) -> Sequence[Any]:
        """run_batch, with its failures and malformed answers turned into OcrError."""
        try:
            results = await self._run_batch(payloads)
        except OcrError:
            raise
        except Exception as exc:
            raise ModelError(f"batch function failed: {type(exc).__name__}: {exc}") from exc
        if not isinstance(results, Sized):
            raise ModelError(f"batch function returned {type(results).__name__}, not a list")
        if len(results) != len(payloads):
            raise ModelError(
                f"batch function returned {len(results)} results for {len(payloads)} items")
        return results

    def _learn_run_time(self, group_key: Hashable, seconds: float) -> None:
        previous = self._run_s.get(group_key)
        self._run_s[group_key] = seconds if previous is None else (
            RUN_TIME_WEIGHT * seconds + (1 - RUN_TIME_WEIGHT) * previous)

    def _drop_dead(self, now: float) -> None:
        """Drop items whose caller went away and fail those that can no longer finish in
        time (the deadline passed, or passes before a batch of their group would end)."""
        for group_key, entries in list(self._groups.items()):
            alive = []
            lead = self._run_s.get(group_key, 0.0)
            for entry in entries:
                if entry.future.done():  # only a cancelled caller completes a queued future
                    self._stats.dropped_cancelled += 1
                elif is_expired(entry, now, lead):
                    self._stats.dropped_deadline += 1
                    entry.future.set_exception(DeadlineExceeded("deadline passed while queued"))
                else:
                    alive.append(entry)
            if alive:
                self._groups[group_key] = alive
            else:
                del self._groups[group_key]

    def _fail_queued(self, exc: OcrError) -> None:
        entries = [entry for group in self._groups.values() for entry in group]
        self._groups.clear()
        _fail(entries, exc)


def _fail(entries: list[_Entry], exc: BaseException) -> None:
    for entry in entries:
        if not entry.future.done():
            entry.future.set_exception(exc)
