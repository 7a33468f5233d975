"""Hot swaps under load (``ocr-bench swap``): the figures the hot-swap issue asks for.

A server (``--workers 2``, the ModelService on a port of its own) serves OCR at
``concurrency`` for ``warm_s``, rests, then serves again for ``duration_s``
while the rec slot is swapped ``swaps`` times between two recognizers, evenly
spaced.  Recorded: failed requests (there must be none), the recognizers the
responses named, each swap's duration, and the engine's RSS at rest after the
first phase and after the last swap (the old models' memory must come back:
within 10 %).  Before all that, a second recognizer declared COLD (``rec:second``,
PP-OCRv4) is used once and then again: the first use's latency includes its load
and warm-up.  Both RSS figures are measured at rest after the same traffic: under
load the engine's RSS moves with the requests in flight, and its first seconds
of traffic grow it a lot (buffers of every shape it meets), which is not what a
swap leaves behind.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ocrserve.bench.loadgen import threads_until
from ocrserve.bench.memory import process_rss
from ocrserve.bench.spawn import ServerProcess
from ocrserve.settings import Settings
from ocrserve.supervisor.multiprocess import free_port

MODELS = ("ch_PP-OCRv4_rec", "ch_PP-OCRv2_rec")
#: Rest after traffic stops before RSS is read (the idle trim runs within a second).
SETTLE_S = 3.0
#: Traffic before the swaps, so that the baseline has seen every shape the swaps will.
WARM_S = 20.0


def swap_under_load(images: Sequence[Path], *, duration_s: float = 60.0, swaps: int = 5,
                    concurrency: int = 8, models: Sequence[str] = MODELS,
                    warm_s: float = WARM_S) -> dict[str, Any]:
    from ocrclient import OcrClient, OcrClientError
    from ocrclient.admin import AdminClient

    payloads = [p.read_bytes() for p in images]
    admin_port = free_port("127.0.0.1")
    served: Counter[str] = Counter()
    succeeded = [0]
    failures: list[str] = []
    lock = threading.Lock()

    def traffic(target: str, n: int, done: threading.Event) -> None:
        with OcrClient(target, timeout=300, retries=0) as client:
            i = n
            while not done.is_set():
                try:
                    result = client.ocr_one(payloads[i % len(payloads)])
                except OcrClientError as exc:
                    with lock:
                        failures.append(f"{exc.code}: {exc}")
                else:
                    with lock:
                        succeeded[0] += 1
                        served.update(m.name for m in result.models if m.stage == "rec")
                i += concurrency

    @contextlib.contextmanager
    def load(target: str) -> Iterator[None]:
        done = threading.Event()
        with threads_until(done, [functools.partial(traffic, target, n, done)
                                  for n in range(concurrency)], 600):
            yield
        time.sleep(SETTLE_S)

    slots = [arg for spec in Settings().slot for arg in ("--slot", spec)]
    with ServerProcess(["--workers", "2", "--admin-port", str(admin_port), *slots,
                        "--slot", f"rec:second={models[0]}", "--lazy-slots", "rec:second"]
                       ) as server:
        with OcrClient(server.target, timeout=300) as client:
            first_use_s, warm_use_s = (_timed(client.ocr_one, payloads[0], language="second")
                                       for _ in range(2))
        with load(server.target):
            time.sleep(warm_s)
        before = process_rss(server)["engine-cpu"]
        swap_s = []
        with load(server.target), AdminClient(f"127.0.0.1:{admin_port}", timeout=600) as admin:
            gap = duration_s / swaps
            for n in range(swaps):
                started = time.monotonic()
                admin.swap_slot("rec", models[n % len(models)])
                swap_s.append(time.monotonic() - started)
                time.sleep(max(0.0, gap - swap_s[-1]))
        after = process_rss(server)["engine-cpu"]
    return {"duration_s": duration_s, "swaps": swaps, "concurrency": concurrency,
            "warm_s": warm_s, "first_use_s": round(first_use_s, 2),
            "warm_use_s": round(warm_use_s, 2), "requests": succeeded[0] + len(failures),
            "failures": len(failures), "first_failures": failures[:3],
            "rec_models_served": dict(served), "swap_s": [round(s, 2) for s in swap_s],
            "engine_rss_mb_before": round(before), "engine_rss_mb_after": round(after),
            "engine_rss_change": round(after / before - 1, 3)}


def _timed(call: Callable[..., object], *args: Any, **kwargs: Any) -> float:
    started = time.monotonic()
    call(*args, **kwargs)
    return time.monotonic() - started
