"""The engine: every model slot of one device, each behind its own batcher.

In single-process mode the front-end calls :meth:`Engine.infer` directly; in
multi-process mode an engine process serves the same method over a Unix
socket (``engine/transport.py``).  Either way it implements
:class:`~ocrserve.engine.protocol.Inference`.

A CPU device shares ``inference_threads`` threads among all its slots (default
1: each batch already uses every core through ``cpu_threads``, and running det
and rec batches at the same time measured no faster; BENCHMARKS.md, "CPU
tuning").  A GPU device gets a thread per slot so that one slot's host work
overlaps another's kernels.  Either way a slot runs one batch at a time (its
batcher waits for a batch before it starts the next), so no runtime is ever
driven by two threads at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ocrserve.engine.batcher import BatcherStats
from ocrserve.engine.policy import Priority
from ocrserve.engine.protocol import Inferred, SlotInfo
from ocrserve.engine.slots import LoadedSlot, SlotConfig
from ocrserve.errors import NotFound, Reason, Unavailable
from ocrserve.memory import trim
from ocrserve.models.repository import ModelRepository
from ocrserve.models.slots import parse_slot_specs, resolve_model
from ocrserve.settings import Settings

log = logging.getLogger(__name__)


def slot_configs(settings: Settings, device: str) -> list[SlotConfig]:
    """Resolve the configured slot specs against the model repository."""
    repo = ModelRepository(Path(settings.model_repository))
    runtime = settings.runtime_options(device)
    configs = []
    for spec in parse_slot_specs(settings.slot):
        model = resolve_model(repo, spec)
        configs.append(SlotConfig(
            slot=spec.slot, model=model, backend=settings.backend, runtime=runtime,
            policy=settings.batch_policy(spec.slot), det_buckets=settings.det_buckets,
            rec_width_step=settings.rec_width_step,
            det_warm_limit=settings.det_limit_side_len, warmup=settings.warmup,
        ))
    return configs


class Engine:
    def __init__(self, configs: Sequence[SlotConfig], device: str = "cpu",
                 inference_threads: int = 1) -> None:
        self.device = device
        self._inference_threads = inference_threads
        self._configs = list(configs)
        self._slots: dict[str, LoadedSlot] = {}
        self._executors: list[ThreadPoolExecutor] = []
        self._closing = False

    @classmethod
    def from_settings(cls, settings: Settings, device: str = "cpu") -> Engine:
        return cls(slot_configs(settings, device), device, settings.inference_threads)

    def _executor_for(self, slot: str) -> Executor:
        if self.device == "cpu":
            if not self._executors:
                self._executors.append(ThreadPoolExecutor(self._inference_threads,
                                                          thread_name_prefix="infer-cpu"))
            return self._executors[0]
        executor = ThreadPoolExecutor(1, thread_name_prefix=f"infer-{slot}")
        self._executors.append(executor)
        return executor

    async def start(self) -> None:
        """Load and warm every slot (off the event loop); fails on the first bad slot."""
        loop = asyncio.get_running_loop()
        for cfg in self._configs:
            executor = self._executor_for(cfg.slot)
            self._slots[cfg.slot] = await loop.run_in_executor(
                executor, LoadedSlot.load, cfg, executor)

    def slots(self) -> Mapping[str, SlotInfo]:
        return {name: s.info for name, s in self._slots.items()}

    def ready(self) -> bool:
        """Every slot loaded and warm, and not shutting down."""
        return len(self._slots) == len(self._configs) and not self._closing

    def stats(self) -> dict[str, BatcherStats]:
        return {name: s.batcher.stats for name, s in self._slots.items()}

    async def batch_stats(self) -> dict[str, dict[str, Any]]:
        return {name: dataclasses.asdict(stats) for name, stats in self.stats().items()}

    async def infer(self, slot: str, items: Sequence[np.ndarray], *,
                    priority: Priority = Priority.NORMAL,
                    deadline: float | None = None) -> Inferred:
        if self._closing:
            raise Unavailable("the engine is shutting down", reason=Reason.SERVER_DRAINING)
        loaded = self._slots.get(slot)
        if loaded is None:
            loaded_names = ", ".join(self._slots) or "none"
            raise NotFound(f"no slot named {slot!r}; loaded: {loaded_names}",
                           metadata={"slot": slot, "loaded": loaded_names})
        return await loaded.infer(items, priority, deadline)

    async def release_memory(self) -> None:
        """Give back what the runtimes and the heap hold beyond their needs (when idle:
        see ``ocrserve.memory``).  Each runtime does it on its own thread."""
        loop = asyncio.get_running_loop()
        for loaded in list(self._slots.values()):
            await loop.run_in_executor(loaded.executor, loaded.runtime.release_memory)
        trim()

    async def close(self) -> None:
        """Finish queued work, then release the models."""
        self._closing = True
        await asyncio.gather(*(s.close() for s in self._slots.values()))
        for executor in self._executors:
            executor.shutdown(wait=True)
