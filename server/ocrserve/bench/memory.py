"""Memory that comes back: RSS of every server process through a burst of large
inputs and a long run of random ones (``ocr-bench memory``).

The phases, each ending with an RSS reading of every process (supervisor,
front-ends, engines, from /proc):

1. fresh: right after start;
2. warm: ``settle_s`` after ``warm`` random requests (the runtimes have seen the
   usual shapes);
3. burst: right after ``burst`` requests of large pages at a high ``limit_side_len``;
4. settled: ``settle_s`` of idleness later: what the burst left behind;
5. random: ``settle_s`` after ``requests`` random requests (sizes 16 px to 2000 px,
   aspect ratios up to 1:20) at ``concurrency``; during them RSS is read every
   ``requests // samples`` requests (``series``: memory under load).

Idle readings are compared with idle readings.  The verdicts the hardening issue
asks for, for every process: settled within 25 % of warm (memory comes back after a
burst), and random within 15 % of settled (no growth over a long random run).
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ocrserve.bench.spawn import ServerProcess

BURST_SIDE = 2000
MAX_SIDE = 2000
MIN_SIDE = 16


@dataclass
class MemoryRun:
    """RSS in MiB per process name, per phase; ``series`` samples the random run."""

    phases: dict[str, dict[str, float]] = field(default_factory=dict)
    series: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    failures: int = 0
    requests: int = 0

    def growth(self, phase: str, base: str = "warm") -> dict[str, float]:
        """Per process: how far ``phase`` is above ``base``, as a fraction."""
        before, after = self.phases[base], self.phases[phase]
        return {name: after[name] / before[name] - 1 for name in before if name in after}


def process_rss(server: ServerProcess) -> dict[str, float]:
    """RSS in MiB of the supervisor and each of its children (latest pid per name)."""
    assert server.proc is not None
    pids = {"supervisor": server.proc.pid}
    pids |= server.child_pids()
    return {name: rss_mb(pid) for name, pid in pids.items()}


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    (kb,) = re.findall(r"VmRSS:\s+(\d+) kB", status)
    return int(kb) / 1024


def random_page(rng: random.Random, min_side: int = MIN_SIDE,
                max_side: int = MAX_SIDE) -> bytes:
    """A white PNG of random size and aspect ratio with dark bars where text would be."""
    aspect = rng.uniform(1, 20)
    long_side = rng.randint(max(min_side, 32), max_side)
    short_side = max(min_side, int(long_side / aspect))
    height, width = (long_side, short_side) if rng.random() < 0.3 else (short_side, long_side)
    img = np.full((height, width, 3), 255, np.uint8)
    for _ in range(rng.randint(0, 12)):
        h = rng.randint(4, max(4, height // 8))
        w = rng.randint(4, max(4, width // 2))
        y, x = rng.randint(0, max(0, height - h)), rng.randint(0, max(0, width - w))
        img[y:y + h, x:x + w] = rng.randint(0, 80)
    return bytes(cv2.imencode(".png", img)[1])


def measure_memory(server_args: Sequence[str], *, warm: int = 500, burst: int = 8,
                   requests: int = 20_000, concurrency: int = 4, samples: int = 20,
                   settle_s: float = 5.0, seed: int = 0,
                   progress: Callable[[int], None] | None = None) -> MemoryRun:
    """Run the phases of the module docstring against a server started with
    ``server_args``.  Warm-up and the random run use ``concurrency`` clients, each
    with its own connection, so that every front-end process takes its share."""
    from ocrclient import OcrClient

    run = MemoryRun()
    rng = random.Random(seed)
    pages = [random_page(rng) for _ in range(500)]
    with ServerProcess(server_args) as server:
        run.phases["fresh"] = process_rss(server)
        _drive(server, pages, warm, concurrency, run, None, None)
        time.sleep(settle_s)
        run.phases["warm"] = process_rss(server)
        big = random_page(rng, BURST_SIDE, BURST_SIDE)
        with OcrClient(server.target, timeout=300) as client:
            for _ in range(burst):
                client.ocr([big] * 4, limit_side_len=2048)
        run.phases["burst"] = process_rss(server)
        time.sleep(settle_s)
        run.phases["settled"] = process_rss(server)
        run.requests = run.failures = 0
        _drive(server, pages, requests, concurrency, run, max(1, requests // samples),
               progress)
        time.sleep(settle_s)
        run.phases["random"] = process_rss(server)
    return run


def _drive(server: ServerProcess, pages: Sequence[bytes], count: int, concurrency: int,
           run: MemoryRun, sample_every: int | None,
           progress: Callable[[int], None] | None) -> None:
    """``count`` OCR requests of ``pages`` (in turn) from ``concurrency`` clients."""
    from ocrclient import OcrClient, OcrClientError

    counter = iter(range(count))
    lock = threading.Lock()

    def worker() -> None:
        with OcrClient(server.target, timeout=300) as client:
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                try:
                    client.ocr_one(pages[n % len(pages)])
                except OcrClientError:
                    with lock:
                        run.failures += 1
                with lock:
                    run.requests += 1
                    done = run.requests
                if sample_every and done % sample_every == 0:
                    run.series.append((done, process_rss(server)))
                if progress is not None:
                    progress(done)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
