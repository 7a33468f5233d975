"""Giving memory back when idle: once, a little after the last request, rate-limited; and
what models are measured by."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import numpy as np
import pytest

from ocrserve.memory import IdleTrim, gpu_used_bytes, in_use_bytes, limit_arenas, rss_bytes, trim


def test_a_quiet_moment_releases_once_after_the_delay() -> None:
    async def scenario() -> list[float]:
        released: list[float] = []
        loop = asyncio.get_running_loop()
        idle = IdleTrim(interval_s=0.2, delay_s=0.05, release=lambda: released.append(loop.time()))
        start = loop.time()
        idle.idle()
        idle.idle()  # already pending: no second release
        await asyncio.sleep(0.1)
        assert len(released) == 1 and released[0] - start >= 0.05
        idle.idle()  # too soon after the last one: put off until the interval is up
        await asyncio.sleep(0.05)
        assert len(released) == 1
        await asyncio.sleep(0.2)
        assert len(released) == 2 and idle.trims == 2
        return released

    asyncio.run(scenario())


def test_a_request_that_starts_calls_off_the_pending_trim() -> None:
    """A trim is for a process that stays idle: one caller sending image after image
    leaves it idle for moments only, and a trim must not land inside the next request."""
    async def scenario() -> None:
        released: list[float] = []
        idle = IdleTrim(interval_s=0.0, delay_s=0.05, release=lambda: released.append(1))
        for _ in range(3):  # back to back: busy again 10 ms after each idle moment
            idle.idle()
            await asyncio.sleep(0.01)
            idle.busy()
            await asyncio.sleep(0.06)
        assert released == []
        idle.idle()  # then quiet for good
        await asyncio.sleep(0.08)
        assert released == [1]
        idle.busy()  # nothing pending: nothing to call off
        assert idle.trims == 1

    asyncio.run(scenario())


def test_with_a_growth_floor_only_a_grown_process_gives_back() -> None:
    """The first idle moment gives back and sets the floor; later ones give back only
    once the RSS has grown ``min_growth_bytes`` past what the last release left."""
    async def scenario() -> list[int]:
        rss = [100]
        released: list[int] = []

        def release() -> None:
            released.append(rss[0])
            rss[0] -= 30  # what giving back gave back

        idle = IdleTrim(interval_s=0.0, delay_s=0.01, release=release, min_growth_bytes=50,
                        rss=lambda: rss[0])
        for size in (120, 119, 130, 150):  # the first release leaves 90: the floor
            rss[0] = size
            idle.idle()
            await asyncio.sleep(0.03)
        assert idle.trims == 2
        return released

    assert asyncio.run(scenario()) == [120, 150]


def test_idle_outside_an_event_loop_does_nothing() -> None:
    released: list[int] = []
    IdleTrim(release=lambda: released.append(1)).idle()
    assert released == []


def test_trimming_and_limiting_arenas_are_safe_to_call() -> None:
    limit_arenas()
    trim()


_HOLES = """
import re, sys
from pathlib import Path
import numpy as np
from ocrserve.memory import limit_arenas

def rss_mb():
    return int(re.findall(r"VmRSS:\\s+(\\d+) kB", Path("/proc/self/status").read_text())[0]) / 1024

if sys.argv[1] == "limited":
    limit_arenas()
big = np.ones(16 * 1024 * 1024, np.uint8)
del big  # glibc now raises its mmap threshold to 16 MiB, unless it is fixed
base = rss_mb()
buffers, small = [], []
for _ in range(64):
    buffers.append(np.ones(1024 * 1024, np.uint8))
    small.append(np.ones(8192, np.uint8))  # keeps the heap's top in use
del buffers
print(rss_mb() - base)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_large_buffers_freed_after_a_burst_leave_the_process() -> None:
    """The pattern of a burst of large images: big buffers between small allocations.
    glibc keeps them in the heap once its dynamic mmap threshold has risen."""
    def left_behind_mb(mode: str) -> float:
        done = subprocess.run([sys.executable, "-c", _HOLES, mode], capture_output=True,
                              text=True, check=True, timeout=60)
        return float(done.stdout)

    assert left_behind_mb("default") > 32  # the problem is real on this libc
    assert left_behind_mb("limited") < 8


def test_a_cpu_engine_measures_its_models_by_its_own_rss() -> None:
    before = in_use_bytes(None)
    block = np.ones(64 * 1024 * 1024, np.uint8)  # touched: resident
    grown = in_use_bytes(None) - before
    assert 60 * 2**20 < grown < 80 * 2**20
    assert abs(in_use_bytes(None) - rss_bytes()) < 8 * 2**20
    del block


def test_a_gpu_engine_measures_the_device_and_falls_back_to_rss_without_one() -> None:
    used = gpu_used_bytes(0)
    if used is None:  # no NVML driver (this machine has no GPU): RSS, never a failure
        assert abs(in_use_bytes(0) - rss_bytes()) < 8 * 2**20
    else:
        assert used > 0 and in_use_bytes(0) >= used // 2
    assert gpu_used_bytes(10_000) is None  # no such device
