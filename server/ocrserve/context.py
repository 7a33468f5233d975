"""Per-request context that follows a request across tasks, threads and processes.

The request id lives in a :class:`~contextvars.ContextVar`: asyncio tasks
inherit it, :func:`to_thread` carries it into executor threads (plain
``run_in_executor`` does not), and the engine transport sends it along with
each call so the engine's log lines name it too.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import Executor
from functools import partial
from typing import TypeVar

T = TypeVar("T")

#: "-" outside any request (start-up, batches that mix many requests).
NO_REQUEST = "-"
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id",
                                                                 default=NO_REQUEST)


async def to_thread(executor: Executor | None, fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` in ``executor`` (None: the loop's default), in this context."""
    context = contextvars.copy_context()
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, partial(context.run, fn, *args))
