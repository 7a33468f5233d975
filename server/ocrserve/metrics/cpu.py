"""Front-end CPU time by pipeline stage.

On a GPU the front-ends' CPU, not the models, is the first wall: decoding,
resizing and normalising, DB post-processing, crop warps and recognizer padding
cost tens of milliseconds per page.  To know which stage to move or speed up,
each stage's work is timed in CPU seconds of the thread that ran it
(``time.thread_time``: other threads and processes sharing the cores do not
count) and added to ``ocr_frontend_cpu_seconds_total{stage}``.  What a front-end
spends outside these stages (gRPC, protobuf, the engine transport, the event
loop, OpenCV's own threads) is the difference from its process CPU,
``ocr_process_cpu_seconds_total{role="frontend"}``; ``ocr-bench load`` reports both
per image.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from ocrserve.metrics import families

P = ParamSpec("P")
T = TypeVar("T")


def metered(stage: str, fn: Callable[P, T]) -> Callable[P, T]:
    """``fn``, its thread CPU time counted under ``stage`` (also when it raises)."""
    counter = families.FRONTEND_CPU.labels(stage)

    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        started = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            counter.inc(time.thread_time() - started)

    return run


@contextmanager
def cpu_of(stage: str) -> Iterator[None]:
    """Count the CPU time of a block run inline (on the event loop) under ``stage``."""
    started = time.thread_time()
    try:
        yield
    finally:
        families.FRONTEND_CPU.labels(stage).inc(time.thread_time() - started)
