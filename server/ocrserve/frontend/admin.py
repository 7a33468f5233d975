"""The operators' gRPC service: ``ocr.v1.ModelService``.

Slot operations go to every engine (each device holds its own copy of every
slot) through :class:`SlotAdmin`: the engine router in multi-process mode, or
:class:`SingleEngine` over the in-process engine.  An operation's answer lists
the slot per engine; when some engine failed, the call fails with the first
engine's error and the others keep whatever they did (a swap that failed on one
GPU for lack of memory leaves the old model serving there).

Long operations stream the slot's states while they run: the stream follows the
engines' slot-change notifications, the same ones ``WatchSlots`` serves, so a
progress message is a real state (LOADING, WARMING, READY), not a timer.

``PullModel`` fetches only the catalog's own URL for a model, or a URL on a host
the operator listed in ``pull_allowed_hosts``: the server never makes a request
to an arbitrary address a caller names.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from grpc import aio

from ocrclient.proto.ocr.v1 import models_pb2 as mpb
from ocrclient.proto.ocr.v1 import models_pb2_grpc
from ocrserve.engine.protocol import SlotInfo
from ocrserve.engine.router import EngineOutcome
from ocrserve.errors import InvalidInput, NotFound, OcrError, Reason
from ocrserve.frontend import convert
from ocrserve.models.catalog import get_entry, load_catalog
from ocrserve.models.download import ArchiveLimits, archive_path, pull
from ocrserve.models.repository import (
    InstalledModel,
    ModelRepository,
    check_name,
    check_version,
    sha256_file,
)
from ocrserve.models.slots import check_slot
from ocrserve.settings import Settings

Counters = Mapping[str, Any]  # slot -> its batching counters


class SlotHost(Protocol):
    """One engine as slot operations see it (Engine and EngineClient both are)."""

    def slots(self) -> Mapping[str, SlotInfo]: ...

    @property
    def slots_version(self) -> int: ...

    async def wait_slots_changed(self, after: int) -> int: ...

    async def batch_stats(self) -> Any: ...

    async def load_slot(self, slot: str, spec: str, *,
                        request_id: str | None = None) -> SlotInfo: ...

    async def swap_slot(self, slot: str, spec: str, *, expected_version: int | None = None,
                        request_id: str | None = None) -> SlotInfo: ...

    async def unload_slot(self, slot: str, *, expected_version: int | None = None,
                          request_id: str | None = None) -> SlotInfo: ...


class SlotAdmin(Protocol):
    """Slot operations on every engine (EngineRouter, or :class:`SingleEngine`)."""

    def slots_by_engine(self) -> list[tuple[str, Mapping[str, SlotInfo]]]: ...

    @property
    def slots_version(self) -> int: ...

    async def wait_slots_changed(self, after: int) -> int: ...

    async def batch_stats_by_engine(self) -> Sequence[Counters]: ...

    async def load_slot(self, slot: str, spec: str, *,
                        request_id: str | None = None) -> list[EngineOutcome]: ...

    async def swap_slot(self, slot: str, spec: str, *, expected_version: int | None = None,
                        request_id: str | None = None) -> list[EngineOutcome]: ...

    async def unload_slot(self, slot: str, *, expected_version: int | None = None,
                          request_id: str | None = None) -> list[EngineOutcome]: ...


class SingleEngine:
    """:class:`SlotAdmin` over the in-process engine (single-process mode)."""

    def __init__(self, engine: SlotHost, name: str = "in-process") -> None:
        self._engine = engine
        self._name = name

    def slots_by_engine(self) -> list[tuple[str, Mapping[str, SlotInfo]]]:
        return [(self._name, self._engine.slots())]

    @property
    def slots_version(self) -> int:
        return self._engine.slots_version

    async def wait_slots_changed(self, after: int) -> int:
        return await self._engine.wait_slots_changed(after)

    async def batch_stats_by_engine(self) -> list[Counters]:
        return [await self._engine.batch_stats()]

    async def load_slot(self, slot: str, spec: str, *,
                        request_id: str | None = None) -> list[EngineOutcome]:
        return await self._outcome(self._engine.load_slot(slot, spec, request_id=request_id))

    async def swap_slot(self, slot: str, spec: str, *, expected_version: int | None = None,
                        request_id: str | None = None) -> list[EngineOutcome]:
        return await self._outcome(self._engine.swap_slot(
            slot, spec, expected_version=expected_version, request_id=request_id))

    async def unload_slot(self, slot: str, *, expected_version: int | None = None,
                          request_id: str | None = None) -> list[EngineOutcome]:
        return await self._outcome(self._engine.unload_slot(
            slot, expected_version=expected_version, request_id=request_id))

    async def _outcome(self, operation: Awaitable[SlotInfo]) -> list[EngineOutcome]:
        try:
            return [EngineOutcome(self._name, info=await operation)]
        except OcrError as exc:
            return [EngineOutcome(self._name, error=exc)]


def spec_text(spec: mpb.ModelSpec) -> str:
    """A ModelSpec in the slot spec syntax the engine reads: ``NAME[@VERSION][@FORMAT]``."""
    check_name(spec.name, field="model.name")
    if spec.version:
        check_version(spec.version, field="model.version")
    if spec.format not in ("", "onnx", "paddle"):
        raise InvalidInput(f"model.format must be onnx or paddle, not {spec.format!r}",
                           field="model.format")
    return spec.name + (f"@{spec.version}" if spec.version else "") + (
        f"@{spec.format}" if spec.format else "")


def slot_status(info: SlotInfo, counters: Mapping[str, Any] | None = None) -> mpb.SlotStatus:
    counts = counters or {}

    def count(name: str) -> int:
        return int(counts.get(name, 0))

    return mpb.SlotStatus(
        slot=info.slot, kind=convert.model_kind(info.kind), model=info.model,
        version=info.version, backend=info.backend, device=info.device,
        state=f"SLOT_STATE_{info.state}" if info.state != "UNLOADED"
        else mpb.SLOT_STATE_UNSPECIFIED,
        message=info.error,
        batches=count("batches"), batched_items=count("items"), queued=count("queued"),
        dropped_deadline=count("dropped_deadline"),
        dropped_cancelled=count("dropped_cancelled"), rejected_full=count("rejected_full"),
        standby_model=info.standby_model or "", standby_version=info.standby_version or 0,
        load_seconds=info.load_s or 0.0, warm_seconds=info.warm_s or 0.0,
        last_used_unix=info.last_used or 0.0, memory_bytes=info.memory_bytes or 0,
        model_bytes=info.model_bytes or 0)


def check_pull_url(url: str, allowed_hosts: Sequence[str]) -> None:
    """Refuse a caller's URL unless it is http(s) on a host the operator allows."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"url must be an http(s) URL, got {url!r}", field="url",
                           reason=Reason.URL_NOT_ALLOWED)
    if parts.hostname.lower() not in {h.lower() for h in allowed_hosts}:
        raise InvalidInput(
            f"the server does not fetch from {parts.hostname}: only the catalog's URLs and "
            "the hosts in pull_allowed_hosts", field="url", reason=Reason.URL_NOT_ALLOWED,
            metadata={"host": parts.hostname})


class ModelServicer(models_pb2_grpc.ModelServiceServicer):
    def __init__(self, admin: SlotAdmin, settings: Settings) -> None:
        self._admin = admin
        self._settings = settings

    # ---------------------------------------------------------------- reading

    async def ListCatalog(self, request: mpb.ListCatalogRequest, context: aio.ServicerContext
                          ) -> mpb.ListCatalogResponse:
        repo = ModelRepository(Path(self._settings.model_repository))
        return mpb.ListCatalogResponse(models=convert.catalog_models(load_catalog(), repo.list()))

    async def ListSlots(self, request: mpb.ListSlotsRequest, context: aio.ServicerContext
                        ) -> mpb.ListSlotsResponse:
        return mpb.ListSlotsResponse(slots=await self._statuses())

    async def GetSlot(self, request: mpb.GetSlotRequest, context: aio.ServicerContext
                      ) -> mpb.ListSlotsResponse:
        slots = await self._statuses(request.slot)
        if not slots:
            raise NotFound(f"no slot named {request.slot!r}", field="slot",
                           metadata={"slot": request.slot})
        return mpb.ListSlotsResponse(slots=slots)

    async def WatchSlots(self, request: mpb.WatchSlotsRequest, context: aio.ServicerContext
                         ) -> AsyncIterator[mpb.SlotEvent]:
        # Statuses without counters: a batch run is not a change of state.
        seen: dict[tuple[str, str], mpb.SlotStatus] = {}
        version = -1
        while True:
            current = self._admin.slots_version
            if current <= version:
                current = await self._admin.wait_slots_changed(version)
            version = current
            now = {(engine, name): slot_status(info)
                   for engine, slots in self._admin.slots_by_engine()
                   for name, info in slots.items()}
            for key, status in now.items():
                if key not in seen or _without_use_time(seen[key]) != _without_use_time(status):
                    yield mpb.SlotEvent(slot=status)
            for key in seen.keys() - now.keys():
                yield mpb.SlotEvent(slot=seen[key], removed=True)
            seen = now

    # --------------------------------------------------------------- changing

    async def LoadSlot(self, request: mpb.LoadSlotRequest, context: aio.ServicerContext
                       ) -> AsyncIterator[mpb.SlotOperationProgress]:
        spec = spec_text(request.model)
        slot = _slot_name(request.slot)
        async for progress in self._follow(slot, self._admin.load_slot(
                slot, spec, request_id=request.request_id or None)):
            yield progress

    async def SwapSlot(self, request: mpb.SwapSlotRequest, context: aio.ServicerContext
                       ) -> AsyncIterator[mpb.SlotOperationProgress]:
        spec = spec_text(request.model)
        slot = _slot_name(request.slot)
        expected = request.expected_version if request.HasField("expected_version") else None
        async for progress in self._follow(slot, self._admin.swap_slot(
                slot, spec, expected_version=expected,
                request_id=request.request_id or None)):
            yield progress

    async def UnloadSlot(self, request: mpb.UnloadSlotRequest, context: aio.ServicerContext
                         ) -> mpb.UnloadSlotResponse:
        expected = request.expected_version if request.HasField("expected_version") else None
        _check(await self._admin.unload_slot(_slot_name(request.slot), expected_version=expected,
                                             request_id=request.request_id or None))
        return mpb.UnloadSlotResponse()

    async def PullModel(self, request: mpb.PullModelRequest, context: aio.ServicerContext
                        ) -> AsyncIterator[mpb.PullProgress]:
        check_name(request.name)
        entry = get_entry(request.name)  # NotFound for a name the catalog does not have
        url = request.url or entry.inference_url
        if request.url:
            check_pull_url(request.url, self._settings.pull_allowed_hosts)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[mpb.PullProgress] = asyncio.Queue()
        last_sent = [0.0]

        def on_progress(done: int, total: int | None) -> None:  # on the download thread
            now = time.monotonic()
            if now - last_sent[0] >= 0.2 or (total is not None and done >= total):
                last_sent[0] = now
                loop.call_soon_threadsafe(queue.put_nowait, mpb.PullProgress(
                    phase=mpb.PullProgress.PHASE_DOWNLOADING, bytes_done=done,
                    bytes_total=total or 0))

        repo = ModelRepository(Path(self._settings.model_repository))
        limits = ArchiveLimits.from_mb(self._settings.max_model_mb,
                                       self._settings.max_archive_members)

        def fetch() -> tuple[InstalledModel, str]:
            installed = pull(repo, request.name, url, progress=False, on_progress=on_progress,
                             limits=limits)
            return installed, sha256_file(archive_path(url))

        task = loop.run_in_executor(None, fetch)
        try:
            while not task.done():
                getter: asyncio.Future[Any] = asyncio.ensure_future(queue.get())
                waits: list[asyncio.Future[Any]] = [getter, task]
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield getter.result()
                else:
                    getter.cancel()
            while not queue.empty():
                yield queue.get_nowait()
            installed, sha256 = await task
        finally:
            if not task.done():  # the caller went away: the download thread runs out
                task.cancel()
        yield mpb.PullProgress(phase=mpb.PullProgress.PHASE_DONE, version=installed.version,
                               format=installed.format, sha256=sha256)

    # ---------------------------------------------------------------- plumbing

    async def _statuses(self, only: str | None = None) -> list[mpb.SlotStatus]:
        per_engine = self._admin.slots_by_engine()
        stats = await self._admin.batch_stats_by_engine()
        return [slot_status(info, counters.get(name))
                for (_, slots), counters in zip(per_engine, stats, strict=True)
                for name, info in slots.items() if only is None or name == only]

    async def _follow(self, slot: str, operation: Awaitable[list[EngineOutcome]]
                      ) -> AsyncIterator[mpb.SlotOperationProgress]:
        """The slot's state on every engine each time it changes while ``operation``
        runs, then the outcome (done) or its error."""
        task = asyncio.ensure_future(operation)
        version = self._admin.slots_version
        try:
            while not task.done():
                change = asyncio.ensure_future(self._admin.wait_slots_changed(version))
                await asyncio.wait({change, task}, return_when=asyncio.FIRST_COMPLETED)
                if change.done():
                    version = change.result()
                    yield mpb.SlotOperationProgress(slots=self._slot_now(slot))
                else:
                    change.cancel()
            outcomes = _check(await task)
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        yield mpb.SlotOperationProgress(
            slots=[slot_status(o.info) for o in outcomes if o.info is not None], done=True)

    def _slot_now(self, slot: str) -> list[mpb.SlotStatus]:
        return [slot_status(slots[slot]) for _, slots in self._admin.slots_by_engine()
                if slot in slots]


def _slot_name(slot: str) -> str:
    check_slot(slot)
    return slot


def _check(outcomes: list[EngineOutcome]) -> list[EngineOutcome]:
    """The outcomes, or the first engine's error when any engine failed."""
    for outcome in outcomes:
        if outcome.error is not None:
            raise outcome.error
    return outcomes


def _without_use_time(status: mpb.SlotStatus) -> mpb.SlotStatus:
    """``status`` as WatchSlots compares it: a use of the slot is not a change."""
    copy = mpb.SlotStatus()
    copy.CopyFrom(status)
    copy.ClearField("last_used_unix")
    return copy
