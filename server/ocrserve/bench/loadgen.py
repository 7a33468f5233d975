"""Closed- and open-loop load generation, like Triton's perf_analyzer.

Pure asyncio over a ``send(i)`` coroutine that performs request ``i`` and
returns how many images it carried; a failure raises an exception whose
``code`` attribute (if any) names the gRPC status.  Nothing here knows gRPC.

- closed loop: ``concurrency`` workers each send the next request as soon as
  their previous one returns, for ``duration`` seconds;
- open loop: requests start at a fixed ``rate`` per second whether or not
  earlier ones finished (latency then includes queueing in the server).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field

Send = Callable[[int], Awaitable[int]]
Tick = Callable[[], None]


@dataclass
class StepResult:
    label: str
    duration_s: float = 0.0
    requests: int = 0
    images: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def images_per_s(self) -> float:
        return self.images / self.duration_s if self.duration_s else 0.0

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    def percentile(self, q: float) -> float:
        return percentile(self.latencies_ms, q)

    def summary(self) -> dict[str, object]:
        return {
            "step": self.label,
            "duration_s": round(self.duration_s, 3),
            "requests": self.requests,
            "images": self.images,
            "images_per_s": round(self.images_per_s, 3),
            "requests_per_s": round(self.requests_per_s, 3),
            "p50_ms": round(self.percentile(50), 2),
            "p90_ms": round(self.percentile(90), 2),
            "p99_ms": round(self.percentile(99), 2),
            "errors": dict(self.errors),
        }


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


async def _timed(send: Send, i: int, result: StepResult, tick: Tick) -> None:
    started = time.perf_counter()
    try:
        images = await send(i)
    except Exception as exc:  # every failure is counted, none stops the run
        result.errors[str(getattr(exc, "code", type(exc).__name__))] += 1
    else:
        result.latencies_ms.append((time.perf_counter() - started) * 1000)
        result.requests += 1
        result.images += images
    tick()


async def closed_loop(send: Send, concurrency: int, duration_s: float,
                      tick: Tick = lambda: None) -> StepResult:
    result = StepResult(label=f"concurrency {concurrency}")
    counter = itertools.count()
    started = time.perf_counter()
    stop_at = started + duration_s

    async def worker() -> None:
        while time.perf_counter() < stop_at:
            await _timed(send, next(counter), result, tick)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.duration_s = time.perf_counter() - started
    return result


async def open_loop(send: Send, rate: float, duration_s: float,
                    tick: Tick = lambda: None) -> StepResult:
    result = StepResult(label=f"rate {rate:g}/s")
    started = time.perf_counter()
    tasks = []
    for i in itertools.count():
        start_at = started + i / rate
        if start_at >= started + duration_s:
            break
        await asyncio.sleep(max(0.0, start_at - time.perf_counter()))
        tasks.append(asyncio.ensure_future(_timed(send, i, result, tick)))
    await asyncio.gather(*tasks)
    result.duration_s = time.perf_counter() - started
    return result


@contextlib.contextmanager
def threads_until(done: threading.Event, targets: Sequence[Callable[[], None]],
                  join_s: float) -> Iterator[None]:
    """Each target in a thread of its own while the block runs; then ``done`` is set (the
    targets' signal to return) and each thread is given ``join_s`` to finish.  For the
    benches whose clients are blocking (the sync client, streams) rather than asyncio."""
    threads = [threading.Thread(target=target) for target in targets]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        done.set()
        for thread in threads:
            thread.join(join_s)
