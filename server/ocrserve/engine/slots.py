"""A loaded slot: one model on one device, its runtime, shaper and batcher.

Loading checks the model's files against its manifest, loads it with the
configured backend, checks what can only be checked by running it (a
recognizer's class count against its dictionary), and runs every shape
bucket once so the first real request does not pay for a new shape.  The
engine may load on any thread and serve from another: a runtime needs one
thread at a time, not a fixed one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ocrserve.context import NO_REQUEST, request_id
from ocrserve.engine.batcher import DynamicBatcher
from ocrserve.engine.policy import BatchPolicy
from ocrserve.engine.protocol import Inferred, ModelVersion, SlotInfo
from ocrserve.engine.shapes import ClsShaper, DetShaper, RecShaper, Shaper, model_elements
from ocrserve.engine.slot_metrics import SlotMetrics
from ocrserve.errors import ModelError, OcrError
from ocrserve.memory import in_use_bytes
from ocrserve.models.catalog import rec_num_classes
from ocrserve.models.repository import InstalledModel, file_problems
from ocrserve.models.slots import SlotSpec
from ocrserve.ops.det import DET_TABLES
from ocrserve.ops.rec import REC_BASE_WIDTH, REC_TABLES
from ocrserve.runtimes import Runtime, RuntimeOptions, load_runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlotConfig:
    """Everything the engine needs to load one slot (picklable: crosses into the engine)."""

    slot: str
    model: InstalledModel
    backend: str  # a key of ocrserve.runtimes.BACKENDS, or auto
    runtime: RuntimeOptions
    policy: BatchPolicy
    det_buckets: tuple[int, ...]
    rec_width_step: int
    det_warm_limit: int = 960
    warmup: bool = True
    #: The spec this config was resolved from.  One that names no version follows the
    #: repository: its slot moves to each newer version when the repository is polled.
    spec: SlotSpec | None = None

    @property
    def follows_latest(self) -> bool:
        return self.spec is not None and self.spec.version is None and "/" not in self.spec.model


def _flow() -> str | None:
    """The batcher's flow for the current call: its request, so requests share slots
    round robin (None outside a request: a flow of its own)."""
    current = request_id.get()
    return None if current == NO_REQUEST else current


def make_shaper(cfg: SlotConfig, runtime: Runtime) -> Shaper:
    model = cfg.model
    if model.kind == "det":
        # Without buckets, a runtime that normalises on its GPU gets the images.  Not on
        # a CPU: cv2.LUT is ~10x faster there than torch's gather (BENCHMARKS.md).
        on_device = (not cfg.det_buckets and cfg.runtime.gpu_id is not None
                     and runtime.accept_images(DET_TABLES))
        return DetShaper(cfg.det_buckets, cfg.det_warm_limit, images_to_runtime=on_device)
    shape = model.input_shape
    # Crops are small: on a CPU the host's cv2.LUT is the cheaper normalisation, as above.
    crops_on_device = (model.kind in ("cls", "rec") and cfg.runtime.gpu_id is not None
                       and runtime.accept_images(REC_TABLES))
    if model.kind == "cls":
        return ClsShaper(int(shape[1] or ClsShaper.height), int(shape[2] or ClsShaper.width),
                         images_to_runtime=crops_on_device)
    if model.kind == "rec":
        # Wherever the runtime offers it: the same bits, fewer of them to copy back.
        return RecShaper(rec_height(model), cfg.rec_width_step, model.num_classes,
                         images_to_runtime=crops_on_device,
                         classes_reduced=runtime.reduce_classes())
    raise ModelError(f"{model.name}: unknown model kind {model.kind!r}")


def slot_info(cfg: SlotConfig, backend: str) -> SlotInfo:
    """What the front-end sees of ``cfg`` alone, loaded or not (state READY)."""
    model = cfg.model
    return SlotInfo(
        slot=cfg.slot,
        kind=model.kind,
        model=model.name,
        version=model.version,
        backend=backend,
        device=cfg.runtime.device,
        input_shape=tuple(model.input_shape),
        dictionary=str(model.dictionary) if model.dictionary else None,
        format=model.format,
    )


def rec_height(model: InstalledModel) -> int:
    """A recognizer's input height, which its files do not reliably say (the catalog or
    the import does)."""
    height = model.input_shape[1]
    if not height:
        raise ModelError(f"{model.name}: unknown input height; set it on import")
    return int(height)


def check_class_count(model: InstalledModel, runtime: Runtime) -> None:
    """A recognizer must output dictionary lines + 2 classes
    (docs/facts.md#dictionaries-and-input-shapes): the dictionary file as it is now,
    not only the count its manifest recorded."""
    if model.dictionary is None or not model.dictionary.is_file():
        raise ModelError(f"{model.name} v{model.version}: a rec model needs a dictionary, "
                         f"and {model.path} has none")
    expected = rec_num_classes(model.dictionary)
    if model.num_classes not in (None, expected):
        raise ModelError(f"{model.name} v{model.version}: the manifest says "
                         f"{model.num_classes} classes, the dictionary gives {expected}")
    out = runtime.run(np.zeros((1, 3, rec_height(model), REC_BASE_WIDTH), np.float32))
    if out.shape[-1] != expected:
        raise ModelError(
            f"{model.name} v{model.version}: the model outputs {out.shape[-1]} classes, but "
            f"its dictionary gives {expected} (lines + blank + space); wrong dictionary?"
        )


class LoadedSlot:
    def __init__(self, cfg: SlotConfig, runtime: Runtime, executor: Executor) -> None:
        self.cfg = cfg
        self.runtime = runtime
        self.shaper = make_shaper(cfg, runtime)
        self.executor = executor
        self.metrics = SlotMetrics(cfg.slot, cfg.model.name, cfg.model.version)
        self.batcher = DynamicBatcher(self._run_batch, cfg.policy, name=cfg.slot,
                                      observer=self._observe)
        self.info = slot_info(cfg, runtime.backend)
        self.model_version = ModelVersion(cfg.model.name, cfg.model.version)
        #: How long the last batch waited for the inference thread (on a CPU, shared
        #: with the other slots); counted into its items' queue time by _observe, which
        #: the batcher calls right after that batch, one batch at a time per slot.
        self._thread_wait_s = 0.0
        self.load_s = 0.0  # set by load: reading files and the class-count check
        self.warm_s = 0.0  # set by load: the warm-up runs
        #: Set by load: how much the process (on a GPU: the device's memory in use) grew
        #: while this model loaded and warmed, at least its files' size.  Approximate:
        #: other slots' batches run meanwhile.
        self.memory_bytes = 0

    @classmethod
    def load(cls, cfg: SlotConfig, executor: Executor,
             on_warming: Callable[[], None] | None = None) -> LoadedSlot:
        """Blocking: verify, load, check and warm.  Run it off the event loop.

        ``on_warming`` is called (on this thread) when loading is done and warm-up starts.
        """
        started = time.perf_counter()
        in_use_before = in_use_bytes(cfg.runtime.gpu_id)
        model = cfg.model
        problems = file_problems(model)
        if problems:
            raise ModelError("; ".join(problems))  # each names the model and version
        runtime = load_runtime(cfg.backend, Path(model.path), model.format, cfg.runtime)
        try:
            if model.kind == "rec":  # before the shaper may ask for reduced outputs
                check_class_count(cfg.model, runtime)
            slot = cls(cfg, runtime, executor)
            loaded = time.perf_counter()
            if on_warming is not None:
                on_warming()
            if cfg.warmup:
                slot.warm()
        except BaseException:
            runtime.close()  # a failed load must not keep the model's memory
            raise
        slot.load_s, slot.warm_s = loaded - started, time.perf_counter() - loaded
        slot.memory_bytes = max(in_use_bytes(cfg.runtime.gpu_id) - in_use_before,
                                model.size_bytes)
        log.info("slot %s: %s v%d on %s/%s ready in %.1fs (warm-up %.1fs)", cfg.slot,
                 model.name, model.version, runtime.backend, cfg.runtime.device,
                 slot.load_s + slot.warm_s, slot.warm_s)
        return slot

    def warm(self) -> None:
        """Run every shape bucket once, or once in all for shape-agnostic runtimes."""
        batches = self.shaper.warmup_batches(self.batcher.policy.max_batch_size)
        for batch in batches if self.runtime.shape_specialized else batches[:1]:
            self.runtime.run(batch)

    async def infer(self, items: Sequence[np.ndarray], priority: int,
                    deadline: float | None) -> Inferred:
        for item in items:
            self.shaper.check(item)
        self.metrics.pending.inc(len(items))
        outputs = await self.batcher.submit_many(
            list(items),
            group_keys=[self.shaper.group_key(i) for i in items],
            sort_keys=[self.shaper.sort_key(i) for i in items],
            priority=priority,
            deadline=deadline,
            flow=_flow(),
        )
        return Inferred(outputs, (self.model_version,))

    async def _run_batch(self, items: list[np.ndarray]) -> list[np.ndarray]:
        loop = asyncio.get_running_loop()
        handed = time.perf_counter()
        outputs, started = await loop.run_in_executor(self.executor, self._run_sync, items)
        self._thread_wait_s = started - handed
        return outputs

    def _run_sync(self, items: list[np.ndarray]) -> tuple[list[np.ndarray], float]:
        """The outputs, and when the inference thread started on them.

        Timed here, on the inference thread, so that the compute time is this batch's
        alone: timed from the event loop it would also count the wait for a CPU
        device's shared thread while another slot's batch ran (under load a classifier
        batch of 10 ms read as 47 ms)."""
        started = time.perf_counter()
        batch = self.shaper.assemble(items)
        self.metrics.batch_elements.inc(model_elements(batch))
        self.metrics.item_elements.inc(sum(model_elements(item) for item in items))
        try:
            output = self.runtime.run(batch)
        except OcrError:
            raise
        except Exception as exc:  # a runtime failure must reach every caller, not kill the engine
            raise ModelError(f"{self.cfg.slot}: inference failed: {exc}") from exc
        outputs = self.shaper.split(output, items)
        self.metrics.compute.observe(time.perf_counter() - started)
        return outputs, started

    def _observe(self, queue_waits: Sequence[float]) -> None:
        metrics = self.metrics
        metrics.inference_count.inc(len(queue_waits))
        metrics.exec_count.inc()
        metrics.batch_size.observe(len(queue_waits))
        for wait in queue_waits:
            metrics.queue.observe(wait + self._thread_wait_s)
        stats = self.batcher.stats
        metrics.pending.set(stats.queued + stats.running - len(queue_waits))

    @property
    def busy(self) -> bool:
        """Items queued or running: such a slot must not be evicted."""
        stats = self.batcher.stats
        return stats.queued + stats.running > 0

    async def close(self) -> None:
        """Finish what is queued, then free the model (on its own thread: see Runtime)."""
        await self.batcher.close()
        await asyncio.get_running_loop().run_in_executor(self.executor, self.runtime.close)
