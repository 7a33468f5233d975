"""Slot operations that run once per request id, whatever the caller does.

An operator's client retries a call whose answer it did not get; the engine
client resends a call whose connection dropped.  Neither may load or swap a
model twice.  :class:`OperationLog` therefore remembers the outcome of the
last :data:`REMEMBERED` operations by request id: a repeat gets the stored
result or error, and a repeat arriving while the first still runs waits for
it.  Transient errors (those with a retry delay) are not remembered, so a
retry after one runs again.

Each operation runs in a task of its own, shielded from its caller: a caller
that goes away (a cancelled RPC) must not leave a slot half swapped.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from ocrserve.errors import InvalidInput, ModelError, OcrError, Reason, error_from_dict

T = TypeVar("T")

#: Completed operations remembered for their request ids.
REMEMBERED = 256


class _Record(Generic[T]):
    def __init__(self, signature: Hashable, task: asyncio.Task[T]) -> None:
        self.signature = signature
        self.task = task


class OperationLog(Generic[T]):
    def __init__(self, capacity: int = REMEMBERED) -> None:
        self._capacity = capacity
        self._records: OrderedDict[str, _Record[T]] = OrderedDict()
        self._running: set[asyncio.Task[T]] = set()

    async def run(self, request_id: str | None, signature: Hashable,
                  operation: Callable[[], Awaitable[T]]) -> T:
        """``operation()``'s result, or the stored outcome of an earlier call with
        ``request_id``.  ``signature`` describes the operation: reusing a request id
        for another one is an InvalidInput error."""
        record = self._records.get(request_id) if request_id else None
        if record is not None:
            if record.signature != signature:
                raise InvalidInput(f"request id {request_id!r} was already used for another "
                                   "operation", field="request_id")
            return await self._outcome(record.task)
        task: asyncio.Task[T] = asyncio.ensure_future(operation())
        self._running.add(task)
        task.add_done_callback(self._finished)
        if request_id:
            self._records[request_id] = _Record(signature, task)
            task.add_done_callback(lambda done: self._settle(request_id, done))
        return await self._outcome(task)

    async def wait_all(self) -> None:
        """Return once no operation is running (for a shutdown)."""
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    def _finished(self, task: asyncio.Task[T]) -> None:
        self._running.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: its caller may have gone away

    def _settle(self, request_id: str, task: asyncio.Task[T]) -> None:
        """Forget transient failures; keep the rest, up to the capacity."""
        error = None if task.cancelled() else task.exception()
        if task.cancelled() or (isinstance(error, OcrError) and error.transient):
            self._records.pop(request_id, None)
        while len(self._records) > self._capacity:
            oldest = next(iter(self._records))
            if not self._records[oldest].task.done():
                break
            del self._records[oldest]

    @staticmethod
    async def _outcome(task: asyncio.Task[T]) -> T:
        """The task's result; its error as a fresh copy (a stored error is raised to each
        caller, and one exception object must not collect every caller's traceback)."""
        try:
            return await asyncio.shield(task)
        except OcrError as exc:
            raise error_from_dict(exc.to_dict()) from exc
        except asyncio.CancelledError:
            if task.cancelled():  # the operation itself, not our caller, was cancelled
                raise ModelError("the operation was cancelled",
                                 reason=Reason.INTERNAL_ERROR) from None
            raise
