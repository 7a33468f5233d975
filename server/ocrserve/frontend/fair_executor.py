"""A thread pool that shares its threads between requests round robin.

The front-end's CPU work (decoding, resizing, DB post-processing, crop warps)
runs in a few threads.  A FIFO pool lets one request with sixty images queue
sixty tasks ahead of a one-image request, which then waits for all of them.
Here each request (the ``flow`` of a task: the request id of the context that
submitted it) has its own queue, and the threads take one task from each
request in turn, so a small request's tasks run after at most one task of every
other request.  The engine's batcher does the same for model work.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from concurrent.futures import Executor, Future
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_Task = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class FairExecutor(Executor):
    """``workers`` threads serving the queues of all flows in turn."""

    def __init__(self, workers: int, flow: Callable[[], Hashable], *,
                 name: str = "fair") -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, not {workers}")
        self._flow = flow
        self._queues: OrderedDict[Hashable, deque[_Task]] = OrderedDict()
        self._ready = threading.Condition()
        self._shutdown = False
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Queue ``fn`` under the calling context's flow."""
        future: Future[T] = Future()
        with self._ready:
            if self._shutdown:
                raise RuntimeError("cannot submit after shutdown")
            self._queues.setdefault(self._flow(), deque()).append((future, fn, args, kwargs))
            self._ready.notify()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._ready:
            self._shutdown = True
            if cancel_futures:
                for queue in self._queues.values():
                    for future, *_ in queue:
                        future.cancel()
                self._queues.clear()
            self._ready.notify_all()
        if wait:
            for thread in self._threads:
                thread.join()

    def _next(self) -> _Task | None:
        """The first flow's oldest task; the flow goes to the back of the line."""
        with self._ready:
            while not self._queues and not self._shutdown:
                self._ready.wait()
            if not self._queues:
                return None
            flow, queue = self._queues.popitem(last=False)
            task = queue.popleft()
            if queue:
                self._queues[flow] = queue
            return task

    def _work(self) -> None:
        while (task := self._next()) is not None:
            _run(task)
            del task  # or this thread would keep the task's arrays alive while it waits


def _run(task: _Task) -> None:
    future, fn, args, kwargs = task
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:  # handed to the waiting caller, as a pool does
        future.set_exception(exc)
    else:
        future.set_result(result)
