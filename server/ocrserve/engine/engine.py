"""The engine: every model slot of one device, each behind its own batcher.

In single-process mode the front-end calls :meth:`Engine.infer` directly; in
multi-process mode an engine process serves the same method over a Unix
socket (``engine/transport.py``).  Either way it implements
:class:`~ocrserve.engine.protocol.Inference`.

A CPU device shares ``inference_threads`` threads among all its slots (default
1: each batch already uses every core through ``cpu_threads``, and running det
and rec batches at the same time measured no faster; BENCHMARKS.md, "CPU speed",
tuning).  A GPU device gets a thread per slot so that one slot's host work
overlaps another's kernels.  Either way a slot runs one batch at a time (its
batcher waits for a batch before it starts the next), so no runtime is ever
driven by two threads at once.

Slots change while traffic flows (:meth:`Engine.load_slot`,
:meth:`Engine.swap_slot`, :meth:`Engine.unload_slot`, first use of a COLD
slot, eviction).  Models load and warm on one dedicated loader thread, not on
the inference threads: on a CPU those are shared by every slot, and a
seconds-long load there would stall every other slot's batches.  One loader
thread also means one model loading at a time, which bounds the memory a
burst of loads can take.  The rules:

- One change at a time per slot.  An operation on a slot that another
  operation (or a first-use load) is changing fails at once with
  FailedPrecondition (SLOT_BUSY) rather than queueing behind it: an operator
  should see the conflict, not have two swaps applied in an order they did
  not choose.  Requests for a slot that is loading wait for it instead.
- A swap loads and warms the new model as the slot's standby while the old
  one serves, then switches in one step: the next ``infer`` goes to the new
  model, items already queued finish on the old one (its batcher drains),
  and then the old model is closed and the heap trimmed.  A failed load
  leaves the old model serving and records the error on the slot.
- Before a model loads (into an empty slot, or as a swap's standby), least
  recently used slots are evicted back to COLD until it fits under
  ``max_loaded_models`` and the memory budget.  Never evicted: a slot with
  work queued or running, one being changed, or a ``pinned`` slot (default
  det, cls and rec: they serve every request that names no slot, so evicting
  them would only move the load time onto the commonest requests).  When
  nothing more can be evicted, a load over ``max_loaded_models`` goes ahead
  (a count is a soft limit; the next load tries again), but a load over the
  memory budget is refused with RESOURCE_EXHAUSTED (MEMORY_BUDGET): the budget
  is there so that the process is not killed for memory, and the old model,
  if any, serves on.  A model's memory is what the process grew while it
  loaded and warmed, measured at each load; before its first load it is
  estimated as :data:`MEMORY_PER_FILE_BYTE` times its files' size.
- With a poll interval, the engine looks at the repository that often and
  swaps every READY slot whose spec names no version to a newer installed
  version (Triton's poll mode).  A version that fails to load is not tried
  again; the slot serves on and its error says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ocrserve.engine.batcher import BatcherStats
from ocrserve.engine.factory import SlotFactory
from ocrserve.engine.operations import OperationLog
from ocrserve.engine.policy import Priority
from ocrserve.engine.protocol import Inferred, SlotInfo
from ocrserve.engine.slot_metrics import SlotStates
from ocrserve.engine.slot_table import SlotEntry, SlotState, SlotTable
from ocrserve.engine.slots import LoadedSlot, SlotConfig
from ocrserve.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    NotFound,
    OcrError,
    Reason,
    ResourceExhausted,
    Unavailable,
)
from ocrserve.memory import MIB, trim
from ocrserve.metrics import families
from ocrserve.models.slots import SlotSpec, parse_slot_specs
from ocrserve.runtimes import resolve_backend
from ocrserve.settings import Settings

log = logging.getLogger(__name__)

#: Slots never evicted unless the engine is told otherwise.
PINNED = ("det", "cls", "rec")
#: In ``lazy_slots``: every slot but the pinned ones starts COLD.
ALL_SLOTS = "*"
#: A model's memory before it was ever loaded, per byte of its files.  Measured
#: (with an ad-hoc script; ``ocr-admin slots --json`` shows memory_bytes per slot)
#: 2026-12-02 on OpenVINO with every shape bucket warmed: 31-32 for the v2 and v4
#: recognizers (the slots that come and go), 47-110 for detectors and the angle
#: classifier, whose first load in a process also pays for the runtime's start;
#: 3-68 on onnxruntime (BENCHMARKS.md, "Hot swap").  Only a first guess: every load
#: measures the real figure and the next decision uses that.
MEMORY_PER_FILE_BYTE = 32


def slot_configs(settings: Settings, device: str) -> list[SlotConfig]:
    """Resolve the configured slot specs against the model repository."""
    factory = SlotFactory.from_settings(settings, device)
    return [factory.config(spec) for spec in parse_slot_specs(settings.slot)]


class Engine:
    def __init__(self, configs: Sequence[SlotConfig], device: str = "cpu",
                 inference_threads: int = 1, *, factory: SlotFactory | None = None,
                 max_loaded_models: int | None = None, cold: Collection[str] = (),
                 pinned: Collection[str] = PINNED, memory_budget_bytes: int | None = None,
                 poll_s: float = 0.0) -> None:
        """``cold`` names configured slots that load on first use; ``factory`` resolves
        the specs of :meth:`load_slot` and :meth:`swap_slot` (without one they fail);
        ``poll_s`` > 0 polls the factory's repository for new versions that often."""
        unknown = set(cold) - {cfg.slot for cfg in configs}
        if unknown:
            raise ValueError(f"cold slots {sorted(unknown)} are not configured")
        if max_loaded_models is not None and max_loaded_models < 1:
            raise ValueError("max_loaded_models must be >= 1 (None: no limit)")
        if poll_s and factory is None:
            raise ValueError("polling needs a factory (its repository)")
        self.device = device
        self._inference_threads = inference_threads
        self._factory = factory
        self._max_loaded = max_loaded_models
        #: Bytes the loaded models may take (None: no limit); the next load obeys a change.
        self.memory_budget_bytes = memory_budget_bytes
        #: Memory measured at each model's last load, by its folder.
        self._measured: dict[Path, int] = {}
        self._poll_s = poll_s
        self._poller: asyncio.Task[None] | None = None
        #: Versions the poller found and could not load: not tried again.
        self._poll_failed: set[Path] = set()
        self._pinned = frozenset(pinned)
        self._cold = frozenset(cold)
        self._table = SlotTable()
        for cfg in configs:
            self._table.entries[cfg.slot] = self._entry(cfg, SlotState.COLD)
        states = SlotStates()
        self._table.add_listener(lambda _: states.update(self._table.infos()))
        states.update(self._table.infos())
        self._operations: OperationLog[SlotInfo] = OperationLog()
        self._cold_loads: set[asyncio.Task[LoadedSlot]] = set()
        self._cpu_executor: ThreadPoolExecutor | None = None
        self._slot_executors: dict[str, ThreadPoolExecutor] = {}
        self._loader = ThreadPoolExecutor(1, thread_name_prefix="slot-loader")
        self._started = False
        self._closing = False

    @classmethod
    def from_settings(cls, settings: Settings, device: str = "cpu") -> Engine:
        """``lazy_slots`` (slot names, or ``*`` for all but the pinned) start cold;
        ``max_loaded_models`` 0 means no limit."""
        configs = slot_configs(settings, device)
        lazy = settings.lazy_slots
        cold = [c.slot for c in configs
                if c.slot in lazy or (ALL_SLOTS in lazy and c.slot not in PINNED)]
        return cls(configs, device, settings.inference_threads,
                   factory=SlotFactory.from_settings(settings, device),
                   max_loaded_models=settings.max_loaded_models or None,
                   cold=cold, memory_budget_bytes=settings.model_memory_budget_mb * MIB or None,
                   poll_s=settings.repository_poll_s)

    # ------------------------------------------------------------ life cycle

    async def start(self) -> None:
        """Load and warm every slot not declared cold; fails on the first bad slot."""
        for entry in list(self._table.entries.values()):
            if entry.name not in self._cold:
                async with entry.lock:
                    await self._fill(entry)
        self._started = True
        if self._poll_s > 0:
            self._poller = asyncio.create_task(self._poll_forever(), name="repository-poll")

    def ready(self) -> bool:
        """Every slot not declared cold loaded and warm, and not shutting down."""
        return self._started and not self._closing

    async def close(self) -> None:
        """Let slot changes in progress end, finish queued work, then release the models."""
        self._closing = True
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        await self._operations.wait_all()
        await asyncio.gather(*self._cold_loads, return_exceptions=True)
        await asyncio.gather(*(e.serving.close() for e in self._table.entries.values()
                               if e.serving is not None))
        for executor in [self._loader, *self._slot_executors.values()]:
            executor.shutdown(wait=True)
        if self._cpu_executor is not None:
            self._cpu_executor.shutdown(wait=True)

    # --------------------------------------------------------------- serving

    def slots(self) -> Mapping[str, SlotInfo]:
        """Every slot, loaded or not; see SlotInfo for the states."""
        return self._table.infos()

    def stats(self) -> dict[str, BatcherStats]:
        return {name: e.serving.batcher.stats for name, e in self._table.entries.items()
                if e.serving is not None}

    async def batch_stats(self) -> dict[str, dict[str, Any]]:
        return {name: dataclasses.asdict(stats) for name, stats in self.stats().items()}

    async def infer(self, slot: str, items: Sequence[np.ndarray], *,
                    priority: Priority = Priority.NORMAL,
                    deadline: float | None = None) -> Inferred:
        if self._closing:
            raise Unavailable("the engine is shutting down", reason=Reason.SERVER_DRAINING)
        entry = self._table.get(slot)
        loaded = entry.serving
        if loaded is None:
            loaded = await self._first_use(entry, deadline)
        self._table.touch(entry)
        # No await between choosing ``loaded`` and queueing on it: a swap cannot slip
        # in between, so these items run on the model the result names.
        return await loaded.infer(items, priority, deadline)

    async def release_memory(self) -> None:
        """Give back what the runtimes and the heap hold beyond their needs (when idle:
        see ``ocrserve.memory``).  Each runtime does it on its own thread."""
        loop = asyncio.get_running_loop()
        for entry in list(self._table.entries.values()):
            loaded = entry.serving
            if loaded is not None and entry.state is SlotState.READY:
                await loop.run_in_executor(loaded.executor, loaded.runtime.release_memory)
        trim()

    # ----------------------------------------------------------- slot changes

    @property
    def slots_version(self) -> int:
        """Bumped on every change to :meth:`slots` (state, model, error)."""
        return self._table.version

    @property
    def slots_epoch(self) -> str:
        """Names this engine instance: versions of different instances do not compare."""
        return self._table.epoch

    async def wait_slots_changed(self, after: int) -> int:
        """:attr:`slots_version` once it is past ``after`` (for a watch stream)."""
        return await self._table.wait_changed(after)

    def add_slots_listener(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(slots_version)`` on the event loop after every change."""
        self._table.add_listener(listener)

    def remove_slots_listener(self, listener: Callable[[int], None]) -> None:
        self._table.remove_listener(listener)

    def slot_specs(self) -> list[str]:
        """Specs that rebuild what the slots serve now: each by its exact version, or as
        configured when it follows the repository's latest or names a folder.  A slot
        that serves nothing after a failed load is left out."""
        specs = []
        for entry in self._table.entries.values():
            if entry.state == SlotState.FAILED:
                continue
            cfg, spec = entry.config, entry.config.spec
            if spec is not None and (cfg.follows_latest or "/" in spec.model):
                specs.append(spec.text)
            else:
                specs.append(SlotSpec(cfg.slot, cfg.model.name, cfg.model.version,
                                      cfg.model.format).text)
        return specs

    async def load_slot(self, slot: str, spec: str, *, request_id: str | None = None) -> SlotInfo:
        """Load ``spec`` (``MODEL[@VERSION][@onnx|@paddle]``) into a new slot, or into a
        COLD or FAILED one; returns the slot, READY."""
        return await self._operations.run(request_id, ("load_slot", slot, spec),
                                          partial(self._load_slot, slot, spec))

    async def swap_slot(self, slot: str, spec: str, *, expected_version: int | None = None,
                        request_id: str | None = None) -> SlotInfo:
        """Replace what ``slot`` serves with ``spec`` without failing a request; returns
        the slot, READY with the new model.  ``expected_version``: fail unless the slot
        serves that version now (two operators must not race)."""
        return await self._operations.run(
            request_id, ("swap_slot", slot, spec, expected_version),
            partial(self._swap_slot, slot, spec, expected_version))

    async def unload_slot(self, slot: str, *, expected_version: int | None = None,
                          request_id: str | None = None) -> SlotInfo:
        """Finish the slot's queued work, free its model and remove the slot; returns
        it as it was, with state UNLOADED."""
        return await self._operations.run(
            request_id, ("unload_slot", slot, expected_version),
            partial(self._unload_slot, slot, expected_version))

    async def _load_slot(self, slot: str, spec: str) -> SlotInfo:
        self._check_open()
        cfg = self._resolve(slot, spec)
        entry = self._table.entries.get(slot)
        if entry is None:
            entry = self._entry(cfg, SlotState.LOADING)
            self._table.entries[slot] = entry
            self._table.changed()
        async with self._exclusive(entry):
            if entry.state not in (SlotState.COLD, SlotState.FAILED, SlotState.LOADING):
                raise FailedPrecondition(
                    f"slot {slot} already serves {entry.config.model.name} v{entry.version}; "
                    "swap it instead", reason=Reason.SLOT_EXISTS, metadata={"slot": slot})
            self._set_config(entry, cfg)
            await self._fill(entry)
        return entry.info()

    async def _swap_slot(self, slot: str, spec: str, expected_version: int | None) -> SlotInfo:
        self._check_open()
        entry = self._table.get(slot)
        async with self._exclusive(entry):
            _check_version(entry, expected_version)
            try:
                cfg = self._resolve(slot, spec)
            except OcrError as exc:
                self._record_error(entry, exc)
                raise
            await self._swap_in(entry, cfg)
        return entry.info()

    async def _swap_in(self, entry: SlotEntry, cfg: SlotConfig) -> None:
        """Make ``entry`` (its lock held) serve ``cfg``; on failure the old model serves on."""
        old = entry.serving
        if old is None:  # COLD or FAILED: nothing serves, so nothing to keep serving
            previous, cold = entry.config, entry.state is SlotState.COLD
            self._set_config(entry, cfg)
            try:
                await self._fill(entry)
            except OcrError:
                if cold:  # a COLD slot keeps the model it would load (error recorded)
                    self._set_config(entry, previous)
                    entry.state = SlotState.COLD
                    self._table.changed()
                raise
            return
        entry.standby = cfg
        try:
            await self._make_room(keep=entry.name, need=self._footprint(cfg))
            new = await self._load(entry, cfg, standby=True)
        except OcrError as exc:
            entry.standby, entry.standby_state = None, None
            self._record_error(entry, exc)
            raise
        entry.standby, entry.standby_state = None, None
        self._set_config(entry, cfg)
        self._serve(entry, new)  # the switch: the next infer goes to ``new``
        log.info("slot %s: swapped %s v%d for %s v%d; draining the old model", entry.name,
                 old.cfg.model.name, old.cfg.model.version, cfg.model.name, cfg.model.version)
        await old.close()
        trim()

    async def poll_repository(self) -> list[str]:
        """Swap each READY slot that follows the latest version (its spec names none) to
        a newer installed one; returns the slots swapped.  A slot being changed is
        left for the next poll."""
        assert self._factory is not None
        swapped = []
        for entry in list(self._table.entries.values()):
            cfg = entry.config
            if (self._closing or entry.state is not SlotState.READY or entry.lock.locked()
                    or cfg.spec is None or not cfg.follows_latest):
                continue
            try:
                latest = await asyncio.to_thread(self._factory.config, cfg.spec)
            except OcrError:
                continue  # its versions were removed: serve on what is loaded
            new = latest.model
            if new.version <= cfg.model.version or new.path in self._poll_failed:
                continue
            log.info("slot %s: %s v%d found in the repository", entry.name, new.name,
                     new.version)
            try:
                await self._operations.run(None, ("poll", entry.name, str(new.path)),
                                           partial(self._poll_swap, entry, latest))
            except OcrError:
                self._poll_failed.add(new.path)
            else:
                swapped.append(entry.name)
        return swapped

    async def _poll_swap(self, entry: SlotEntry, cfg: SlotConfig) -> SlotInfo:
        self._check_open()
        async with self._exclusive(entry):
            await self._swap_in(entry, cfg)
        return entry.info()

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self._poll_s)
            try:
                await self.poll_repository()
            except Exception:  # a bad poll must not end polling
                log.exception("polling the model repository failed")

    async def _unload_slot(self, slot: str, expected_version: int | None) -> SlotInfo:
        self._check_open()
        entry = self._table.get(slot)
        async with self._exclusive(entry):
            _check_version(entry, expected_version)
            await self._drain(entry)
            del self._table.entries[slot]
            entry.state = SlotState.UNLOADED
            self._table.changed()
            executor = self._slot_executors.pop(slot, None)
            if executor is not None:
                executor.shutdown(wait=False)
            trim()
        log.info("slot %s: unloaded", slot)
        return entry.info()

    # --------------------------------------------------------------- helpers

    def _entry(self, cfg: SlotConfig, state: SlotState) -> SlotEntry:
        entry = SlotEntry(config=cfg, backend="", state=state)
        self._set_config(entry, cfg)
        return entry

    def _set_config(self, entry: SlotEntry, cfg: SlotConfig) -> None:
        model = cfg.model
        entry.config = cfg
        entry.backend = resolve_backend(cfg.backend, model.format, cfg.runtime.device)
        entry.model_bytes = model.size_bytes

    def _resolve(self, slot: str, spec: str) -> SlotConfig:
        if self._factory is None:
            raise FailedPrecondition("this engine has no model repository to load from")
        try:
            return self._factory.config_for(slot, spec)
        except OcrError as exc:
            if exc.status != "INTERNAL":  # InvalidInput, NotFound: the caller's to fix
                raise
            raise FailedPrecondition(f"slot {slot}: {exc.message}",
                                     reason=Reason.MODEL_LOAD_FAILED) from exc

    def _check_open(self) -> None:
        if self._closing:
            raise Unavailable("the engine is shutting down", reason=Reason.SERVER_DRAINING)

    @contextlib.asynccontextmanager
    async def _exclusive(self, entry: SlotEntry) -> AsyncIterator[None]:
        """Hold ``entry``'s lock, or fail at once if another change holds it."""
        if entry.lock.locked():
            raise FailedPrecondition(
                f"slot {entry.name} is busy with another change; retry when it is done",
                reason=Reason.SLOT_BUSY, metadata={"slot": entry.name})
        async with entry.lock:
            yield

    def _executor_for(self, slot: str) -> Executor:
        if self.device == "cpu":
            if self._cpu_executor is None:
                self._cpu_executor = ThreadPoolExecutor(self._inference_threads,
                                                        thread_name_prefix="infer-cpu")
            return self._cpu_executor
        if slot not in self._slot_executors:
            self._slot_executors[slot] = ThreadPoolExecutor(1, thread_name_prefix=f"infer-{slot}")
        return self._slot_executors[slot]

    async def _load(self, entry: SlotEntry, cfg: SlotConfig, *, standby: bool) -> LoadedSlot:
        """Load and warm ``cfg`` on the loader thread, showing LOADING then WARMING on
        ``entry`` (as its standby, or as the slot itself).  Every failure comes out as
        FailedPrecondition (MODEL_LOAD_FAILED)."""
        loop = asyncio.get_running_loop()

        def show(state: SlotState) -> None:
            current = entry.standby_state if standby else entry.state
            if state is SlotState.WARMING and current is not SlotState.LOADING:
                return  # the load ended (or failed) before this callback ran
            if standby:
                entry.standby_state = state
            else:
                entry.state = state
            self._table.changed()

        def warming() -> None:  # called on the loader thread
            loop.call_soon_threadsafe(show, SlotState.WARMING)

        show(SlotState.LOADING)
        model = cfg.model
        try:
            loaded = await loop.run_in_executor(
                self._loader, LoadedSlot.load, cfg, self._executor_for(cfg.slot), warming)
        except MemoryError as exc:
            raise FailedPrecondition(
                f"slot {cfg.slot}: out of memory loading {model.name} v{model.version}",
                reason=Reason.MODEL_LOAD_FAILED, metadata={"slot": cfg.slot}) from exc
        except Exception as exc:
            # The library's own text (and the model's path) goes to the log, not to callers.
            log.warning("slot %s: %s v%d did not load", cfg.slot, model.name, model.version,
                        exc_info=exc)
            detail = exc.message if isinstance(exc, OcrError) else type(exc).__name__
            raise FailedPrecondition(
                f"slot {cfg.slot}: {model.name} v{model.version} did not load: {detail}",
                reason=Reason.MODEL_LOAD_FAILED, metadata={"slot": cfg.slot}) from exc
        if self._closing:
            await loaded.close()
            raise Unavailable("the engine is shutting down", reason=Reason.SERVER_DRAINING)
        return loaded

    async def _fill(self, entry: SlotEntry) -> LoadedSlot:
        """Load ``entry.config`` into the empty ``entry`` (its lock held); on failure the
        slot is FAILED with the error, except that a COLD slot refused for memory stays
        COLD (a later request may find room)."""
        try:
            await self._make_room(keep=entry.name, need=self._footprint(entry.config))
            loaded = await self._load(entry, entry.config, standby=False)
        except OcrError as exc:
            if not (entry.state is SlotState.COLD and exc.reason == Reason.MEMORY_BUDGET):
                entry.state = SlotState.FAILED
            self._record_error(entry, exc)
            raise
        self._serve(entry, loaded)
        return loaded

    def _serve(self, entry: SlotEntry, loaded: LoadedSlot) -> None:
        self._measured[loaded.cfg.model.path] = loaded.memory_bytes
        entry.serving = loaded
        entry.memory_bytes = loaded.memory_bytes
        entry.state = SlotState.READY
        entry.backend = loaded.runtime.backend
        entry.load_s, entry.warm_s = loaded.load_s, loaded.warm_s
        entry.error = entry.error_reason = ""
        self._table.changed()

    def _record_error(self, entry: SlotEntry, exc: OcrError) -> None:
        log.warning("slot %s: %s", entry.name, exc.message)
        entry.error, entry.error_reason = exc.message, str(exc.reason)
        self._table.changed()

    async def _drain(self, entry: SlotEntry) -> None:
        """Take ``entry``'s model out of service, finish its queued work and free it."""
        loaded, entry.serving = entry.serving, None
        entry.memory_bytes = None
        entry.state = SlotState.DRAINING
        self._table.changed()
        if loaded is not None:
            await loaded.close()

    def _footprint(self, cfg: SlotConfig) -> int:
        """The memory ``cfg``'s model took at its last load, or an estimate."""
        model = cfg.model
        return self._measured.get(model.path, model.size_bytes * MEMORY_PER_FILE_BYTE)

    def _memory_in_use(self, keep: str) -> int:
        """What loaded models take, counting ``keep`` only if it serves (a swap keeps
        the old model while the new one loads)."""
        return sum(e.memory_bytes if e.serving is not None and e.memory_bytes is not None
                   else self._footprint(e.config)
                   for e in self._table.loaded() if e.name != keep or e.serving is not None)

    async def _make_room(self, keep: str, need: int) -> None:
        """Evict slots until one more model (``need`` bytes) fits under
        ``max_loaded_models`` and the memory budget."""
        while True:
            others = len([e for e in self._table.loaded() if e.name != keep])
            over_count = self._max_loaded is not None and others >= self._max_loaded
            budget = self.memory_budget_bytes
            used = self._memory_in_use(keep) if budget is not None else 0
            over_memory = budget is not None and used + need > budget
            if not (over_count or over_memory):
                break
            candidates = self._table.evictable(keep=self._pinned | {keep})
            if budget is not None and over_memory:
                freeable = sum(e.memory_bytes or 0 for e in candidates)
                if used - freeable + need > budget:  # evicting would not be enough
                    raise ResourceExhausted(
                        f"slot {keep}: its model needs about {need / MIB:.0f} MiB, and the "
                        f"loaded models take {used / MIB:.0f} MiB of the "
                        f"{budget / MIB:.0f} MiB budget (model_memory_budget_mb), of which "
                        f"idle unpinned slots free {freeable / MIB:.0f} MiB",
                        reason=Reason.MEMORY_BUDGET,
                        metadata={"slot": keep, "need_mib": round(need / MIB),
                                  "used_mib": round(used / MIB)})
            if not candidates:
                log.warning("%d other models loaded (max_loaded_models=%s) and none can be "
                            "evicted now; loading %s anyway", others, self._max_loaded, keep)
                break
            victim = candidates[0]
            async with victim.lock:
                await self._drain(victim)
                victim.state = SlotState.COLD
                self._table.changed()
            families.MODEL_EVICTIONS.labels(victim.name).inc()
            log.info("slot %s: evicted (least recently used) to load %s", victim.name, keep)
            trim()

    async def _first_use(self, entry: SlotEntry, deadline: float | None) -> LoadedSlot:
        """The loaded model of a slot that has none yet: load it (COLD), or wait for the
        change in progress.  The load goes on if this caller gives up."""
        if entry.cold_load is None or entry.cold_load.done():
            entry.cold_load = asyncio.create_task(self._cold_load(entry))
            self._cold_loads.add(entry.cold_load)
            entry.cold_load.add_done_callback(_forget_in(self._cold_loads))
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            return await asyncio.wait_for(asyncio.shield(entry.cold_load), timeout)
        except TimeoutError:
            raise DeadlineExceeded(f"deadline passed while slot {entry.name} loaded") from None

    async def _cold_load(self, entry: SlotEntry) -> LoadedSlot:
        async with entry.lock:
            if self._table.entries.get(entry.name) is not entry:
                raise NotFound(f"slot {entry.name!r} was unloaded", metadata={"slot": entry.name})
            if entry.serving is not None:
                return entry.serving
            if entry.state is SlotState.FAILED:
                raise FailedPrecondition(f"slot {entry.name} failed to load: {entry.error}",
                                         reason=Reason.MODEL_LOAD_FAILED,
                                         metadata={"slot": entry.name})
            self._check_open()
            log.info("slot %s: loading on first use", entry.name)
            return await self._fill(entry)


def _check_version(entry: SlotEntry, expected: int | None) -> None:
    if expected is not None and expected != entry.version:
        raise FailedPrecondition(
            f"slot {entry.name} serves {entry.config.model.name} v{entry.version}, "
            f"not v{expected}", reason=Reason.MODEL_VERSION_MISMATCH,
            metadata={"slot": entry.name, "expected": expected, "serving": entry.version})


def _forget_in(tasks: set[asyncio.Task[LoadedSlot]]) -> Callable[[asyncio.Task[LoadedSlot]],
                                                                  None]:
    """A done callback: drop the task from ``tasks`` and retrieve its error (its waiters
    may all have given up)."""
    def forget(task: asyncio.Task[LoadedSlot]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()
    return forget
