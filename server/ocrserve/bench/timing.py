"""Timing one call the way every in-process bench does: wall milliseconds, and the
median of repeated calls after untimed warm-up calls (first calls build kernels)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def timed_ms(run: Callable[[np.ndarray], Any], batch: np.ndarray) -> float:
    """Milliseconds of one ``run(batch)``."""
    started = time.perf_counter()
    run(batch)
    return 1000 * (time.perf_counter() - started)


def median_ms(run: Callable[[np.ndarray], Any], batch: np.ndarray, repeat: int,
              warmups: int = 2) -> float:
    """The median of ``repeat`` timed calls (at least one) after ``warmups`` untimed."""
    for _ in range(warmups):
        run(batch)
    return statistics.median(timed_ms(run, batch) for _ in range(max(1, repeat)))
