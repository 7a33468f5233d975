"""A slot's compute and queue times on a real model, in process: what the Prometheus
histograms count when the slots of a CPU device share one inference thread."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from prometheus_client import REGISTRY

from ocrserve.engine.factory import SlotFactory
from ocrserve.engine.slots import LoadedSlot
from ocrserve.models.slots import parse_slot_spec
from ocrserve.ops.rec import rec_input
from ocrserve.settings import Settings

CLS = "ch_ppocr_mobile_v2.0_cls"
HOLD_S = 0.5


def seconds(name: str, slot: str) -> float:
    value = REGISTRY.get_sample_value(name, {"slot": slot, "model": CLS, "version": "1"})
    return value or 0.0


def test_waiting_for_the_shared_thread_is_queue_time_not_compute(
        model_repository: Path) -> None:
    """Another slot's batch holds the device's one inference thread for HOLD_S: the
    classifier's batch waits that long, and that wait must show as its items' queue
    time, not as time the model took (the compute sum is what `ocr-bench load` reads
    as how busy the models kept the device)."""
    settings = Settings(model_repository=str(model_repository))
    factory = SlotFactory.from_settings(settings, "cpu")
    slot_name = "cls:metrics-test"
    cfg = factory.config(parse_slot_spec(f"{slot_name}={CLS}@1"))
    crops = [rec_input(np.random.default_rng(i).integers(0, 256, (30, 100, 3), np.uint8),
                       48, 192) for i in range(3)]

    async def scenario(executor: ThreadPoolExecutor) -> None:
        slot = LoadedSlot.load(cfg, executor)
        try:
            started = time.perf_counter()
            blocker = asyncio.get_running_loop().run_in_executor(executor, time.sleep, HOLD_S)
            result = await slot.infer(crops, priority=0, deadline=None)
            elapsed = time.perf_counter() - started
            await blocker
        finally:
            await slot.close()
        assert len(result.outputs) == len(crops)
        assert elapsed >= HOLD_S

    compute = ("ocr_inference_compute_duration_seconds_sum", slot_name)
    queue = ("ocr_inference_queue_duration_seconds_sum", slot_name)
    compute_before, queue_before = seconds(*compute), seconds(*queue)
    with ThreadPoolExecutor(1) as executor:
        asyncio.run(scenario(executor))
    compute_s = seconds(*compute) - compute_before
    queue_s = seconds(*queue) - queue_before
    assert 0 < compute_s < HOLD_S / 2, compute_s
    # every item waited for the held thread
    assert queue_s >= len(crops) * HOLD_S * 0.9, queue_s
