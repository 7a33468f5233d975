"""Giving memory back to the operating system (glibc).

Two habits of glibc's allocator keep a server's RSS at its peak long after a
burst of large images: one malloc arena per thread that ever allocated (the
front-end's decoding threads, the runtimes' thread pools), and freed memory
kept inside those arenas, including large buffers once glibc's dynamic mmap
threshold has risen.  Each server process therefore caps the arenas and fixes
the threshold at start (:func:`limit_arenas`) and trims the heap when it goes
idle (:class:`IdleTrim`).  Measured with ``ocr-bench memory`` (BENCHMARKS.md).
Elsewhere than glibc both are no-ops.

It also says what an engine's models are measured by (:func:`in_use_bytes`):
the process's RSS on a CPU, the device's memory on a GPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import os
import time
from collections.abc import Callable
from typing import Any

MIB = 1024 * 1024

#: mallopt's parameters.
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
#: Arenas per process: enough for the event loop and a couple of busy threads.
ARENAS = 2
#: Allocations from this size up get their own mapping, returned to the system when
#: freed.  glibc starts at 128 KiB but raises the threshold to the size of every
#: mapped block freed (up to 32 MiB), so after one burst of large images their
#: buffers came from the heap, where they fragment it and stay.  A fixed threshold
#: keeps images and tensors (hundreds of KiB and up) out of the heap for good.
MMAP_THRESHOLD = 256 * 1024
#: The front-ends' threshold: above a 1080p frame (6.2 MB decoded), below an A4 scan
#: (26 MB).  Every mapped buffer is faulted in and zeroed page by page when first
#: written and unmapped when freed; a front-end makes several per image (the decoded
#: image, the detector's input, its output map, the crops).  From the heap they are
#: reused instead: on the 720p set a threshold of 4 MiB took ~5 ms of front-end CPU
#: off each image (decode 13.5 -> 10.3 ms, the detector's and recognizer's inputs
#: 1 ms each), and ``ocr-bench memory`` still found both front-ends at +0 % after
#: the burst of large pages (BENCHMARKS.md, "Front-end buffers from the heap").
FRONTEND_MMAP_THRESHOLD = 8 * MIB
#: A front-end gives memory back when idle only after growing this much (IdleTrim): a
#: trim costs it ~36 ms (gc.collect), and ``ocr-bench memory`` allows +25 % of ~80 MiB.
FRONTEND_TRIM_GROWTH = 16 * MIB


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim  # noqa: B018  (present in glibc only)
        libc.mallopt  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


def limit_arenas(arenas: int = ARENAS, mmap_threshold: int = MMAP_THRESHOLD) -> None:
    """Cap glibc's malloc arenas for this process and fix its mmap threshold (call
    early, before threads start)."""
    if _LIBC is not None:
        _LIBC.mallopt(_M_ARENA_MAX, arenas)
        _LIBC.mallopt(_M_MMAP_THRESHOLD, mmap_threshold)


def rss_bytes() -> int:
    """This process's resident set size (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as statm:
            resident_pages = int(statm.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def in_use_bytes(gpu_id: int | None) -> int:
    """What an engine's models are measured by: on a GPU, the memory in use on that
    device (one engine per device, so the device's growth is the engine's, whatever
    allocator its runtime uses: torch's, Paddle's, onnxruntime's); on a CPU, or where
    NVML cannot be read, this process's RSS."""
    if gpu_id is not None:
        used = gpu_used_bytes(gpu_id)
        if used is not None:
            return used
    return rss_bytes()


def gpu_used_bytes(gpu_id: int) -> int | None:
    """Memory in use on CUDA device ``gpu_id`` as this process numbers it (through
    ``CUDA_VISIBLE_DEVICES``), from NVML; None without NVML, a driver or the device."""
    try:
        import pynvml

        pynvml.nvmlInit()
        visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")
                   if v.strip()]
        device = visible[gpu_id] if gpu_id < len(visible) else str(gpu_id)
        handle = (pynvml.nvmlDeviceGetHandleByUUID(device) if device.startswith(("GPU-", "MIG-"))
                  else pynvml.nvmlDeviceGetHandleByIndex(int(device)))
        return int(pynvml.nvmlDeviceGetMemoryInfo(handle).used)
    except Exception:  # no library, no driver, no such device
        return None


def nvml_handles() -> list[Any]:
    """NVML handles of the machine's GPUs; none without a driver (the usual CPU case)."""
    try:
        import pynvml

        pynvml.nvmlInit()
        return [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
    except Exception:  # no library, no driver, no device: no GPU metrics
        return []


def trim() -> None:
    """Collect garbage cycles (they can hold large arrays), then return free heap
    memory to the operating system."""
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


class IdleTrim:
    """Gives memory back once the process has been idle for ``delay_s``, at most once per
    ``interval_s``.

    A trim collects garbage and walks the heap (tens of milliseconds in a front-end),
    on the event loop (a ``call_later``), so it must not land inside a request: it is
    scheduled when the last request in flight finishes (:meth:`idle`) and called off
    when the next one starts (:meth:`busy`).  Before that was so, one caller sending
    one image after another (each ~0.5 s) had a trim land in nearly every request: in
    the front-end ~30 ms of CPU per 720p image, more than all its pixel work, and as
    long a stall of its event loop (BENCHMARKS.md, "Idle trims").  ``delay_s`` also
    lets gRPC finish sending the answer, which holds the request and its response.
    With ``min_growth_bytes`` an idle moment gives back only when the process's RSS
    has grown that much since the last time it did: with light traffic a front-end is
    idle between nearly every two requests, and most of those moments find nothing to
    give back.  Without a running loop, idle moments do nothing.
    """

    def __init__(self, interval_s: float = 1.0, delay_s: float = 0.5, *,
                 release: Callable[[], None] | None = None, min_growth_bytes: int = 0,
                 clock: Callable[[], float] = time.monotonic,
                 rss: Callable[[], int] = rss_bytes) -> None:
        """``release`` does the giving back (default :func:`trim`)."""
        self._release = release or trim
        self._interval_s = interval_s
        self._delay_s = delay_s
        self._min_growth = min_growth_bytes
        self._clock = clock
        self._rss = rss
        self._floor = 0  # RSS after the last release
        self._last = -float("inf")
        self._pending: asyncio.TimerHandle | None = None
        self.trims = 0

    def idle(self) -> None:
        if self._pending is not None:
            return
        wait = max(self._delay_s, self._last + self._interval_s - self._clock())
        with contextlib.suppress(RuntimeError):  # no running loop
            self._pending = asyncio.get_running_loop().call_later(wait, self._trim)

    def busy(self) -> None:
        """A request started: a trim not yet begun waits for the next idle moment."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    def _trim(self) -> None:
        self._pending = None
        if self._min_growth and self._rss() < self._floor + self._min_growth:
            return
        self._last = self._clock()
        self.trims += 1
        self._release()
        self._floor = self._rss()
