"""Hot-swappable slots on a real engine: swap under traffic, failed loads, request ids,
cold slots, LRU eviction by count and by memory, repository polling, and slot changes
reaching every front-end over the socket.

The models are the small angle classifier (v1 ONNX, v2 Paddle) and, where a
dictionary matters, the PP-OCRv2 recognizer, installed into a repository of
the test's own so that broken versions can be made next to good ones.
"""

from __future__ import annotations

import asyncio
import gc
import shutil
import time
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ocrserve.engine.engine import Engine
from ocrserve.engine.factory import SlotFactory
from ocrserve.engine.protocol import SlotInfo
from ocrserve.engine.router import EngineRouter
from ocrserve.engine.transport import EngineClient, EngineServer
from ocrserve.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    InvalidInput,
    NotFound,
    OcrError,
    Reason,
    ResourceExhausted,
)
from ocrserve.models.repository import ModelRepository
from ocrserve.models.slots import parse_slot_spec
from ocrserve.ops.rec import rec_input
from ocrserve.settings import Settings

CLS = "ch_ppocr_mobile_v2.0_cls"
REC = "ch_PP-OCRv2_rec"
DET = "ch_PP-OCRv2_det"


@pytest.fixture
def repo(model_repository: Path, tmp_path: Path) -> ModelRepository:
    """cls v1 (ONNX) and v2 (Paddle), and det v1, copied from the real repository."""
    repo = ModelRepository(tmp_path / "models")
    for name, version in ((CLS, 1), (CLS, 2), (DET, 1)):
        repo.install_dir(name, model_repository / name / str(version), source="test")
    return repo


def engine_for(repo: ModelRepository, slots: dict[str, str], **options: Any) -> Engine:
    factory = SlotFactory.from_settings(Settings(model_repository=str(repo.root)), "cpu")
    configs = [factory.config(parse_slot_spec(f"{slot}={spec}")) for slot, spec in slots.items()]
    return Engine(configs, factory=factory, pinned=options.pop("pinned", ()), **options)


def run(engine: Engine, scenario: Callable[[Engine], Awaitable[None]],
        timeout_s: float = 120) -> None:
    async def main() -> None:
        async with asyncio.timeout(timeout_s):
            await engine.start()
            try:
                await scenario(engine)
            finally:
                await engine.close()
    asyncio.run(main())


def cls_items(count: int = 1) -> list[np.ndarray]:
    """Classifier inputs as the front-end sends them (ops.rec.rec_input): random crops."""
    return [rec_input(np.random.default_rng(i).integers(0, 256, (30, 100, 3), np.uint8), 48, 192)
            for i in range(count)]


async def served_version(engine: Engine, slot: str = "cls") -> int:
    inferred = await engine.infer(slot, cls_items())
    (model,) = inferred.models
    return model.version


def test_a_swap_under_traffic_fails_nothing_and_frees_the_old_model(
        repo: ModelRepository) -> None:
    async def scenario(engine: Engine) -> None:
        old = engine._table.entries["cls"].serving
        assert old is not None
        stop = asyncio.Event()
        seen: list[list[int]] = [[] for _ in range(4)]
        failures: list[OcrError] = []

        async def client(index: int) -> None:
            while not stop.is_set():
                try:
                    inferred = await engine.infer("cls", cls_items(1 + index))
                except OcrError as exc:
                    failures.append(exc)
                    return  # a refusal comes back at once: retrying would never yield
                assert len(inferred.outputs) == 1 + index
                seen[index].extend(m.version for m in inferred.models)

        clients = [asyncio.create_task(client(i)) for i in range(4)]
        await asyncio.sleep(0.3)
        info = await engine.swap_slot("cls", f"{CLS}@2")
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.gather(*clients)

        assert failures == []
        assert (info.model, info.version, info.format, info.state) == (CLS, 2, "paddle", "READY")
        assert info.standby_model is None and info.error == ""
        assert info.load_s is not None and info.warm_s is not None
        for versions in seen:  # each client saw v1, then only v2
            assert versions == sorted(versions) and versions[0] == 1 and versions[-1] == 2
        assert engine.slots()["cls"].version == 2
        with pytest.raises(FailedPrecondition, match="closed"):
            old.runtime.run(old.shaper.assemble(cls_items()))
        collected = weakref.ref(old)
        del old
        gc.collect()
        assert collected() is None, gc.get_referrers(collected())

    run(engine_for(repo, {"cls": f"{CLS}@1"}), scenario)


def install_broken(repo: ModelRepository, tmp_path: Path, name: str, source: Path,
                   break_it: Callable[[Path], None], **install: Any) -> int:
    """Install ``source`` as the next version of ``name``, then break it; its version."""
    staged = tmp_path / f"staged-{name}"
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(source, staged)
    (staged / "manifest.json").unlink()
    model = repo.install_dir(name, staged, source="test", **install)
    break_it(model.path)
    return model.version


def garbage(path: Path) -> None:
    path.write_bytes(b"not a model at all" * 100)


def test_every_failed_load_leaves_the_old_model_serving(
        repo: ModelRepository, model_repository: Path, tmp_path: Path) -> None:
    cls_source = model_repository / CLS / "1"
    missing = install_broken(repo, tmp_path, CLS, cls_source,
                             lambda p: (p / "model.onnx").unlink())
    truncated = install_broken(
        repo, tmp_path, CLS, cls_source,
        lambda p: (p / "model.onnx").write_bytes((p / "model.onnx").read_bytes()[:1000]))
    # Hashed after it was broken: the manifest agrees, so only loading finds out.
    staged = tmp_path / "garbage"
    staged.mkdir()
    garbage(staged / "model.onnx")
    unloadable = repo.install_dir(CLS, staged, source="test").version

    cases: list[tuple[str, type[OcrError], Reason, str]] = [
        ("no_such_model", NotFound, Reason.MODEL_NOT_FOUND, "not installed"),
        (f"{CLS}@42", NotFound, Reason.MODEL_NOT_FOUND, "no installed version 42"),
        (f"{CLS}@1@paddle", NotFound, Reason.MODEL_NOT_FOUND, "is onnx, not paddle"),
        (DET, InvalidInput, Reason.PARAMETER_INVALID, "needs a cls model"),
        ("../elsewhere", InvalidInput, Reason.PARAMETER_INVALID, "installed name"),
        (f"{CLS}@{missing}", FailedPrecondition, Reason.MODEL_LOAD_FAILED, "missing"),
        (f"{CLS}@{truncated}", FailedPrecondition, Reason.MODEL_LOAD_FAILED, "has 1000 bytes"),
        (f"{CLS}@{unloadable}", FailedPrecondition, Reason.MODEL_LOAD_FAILED, "did not load"),
    ]

    async def scenario(engine: Engine) -> None:
        for spec, error, reason, text in cases:
            with pytest.raises(error, match=text) as info:
                await engine.swap_slot("cls", spec)
            assert info.value.reason == reason, spec
            slot = engine.slots()["cls"]
            assert (slot.state, slot.version, slot.standby_model) == ("READY", 1, None), spec
            assert text in slot.error and slot.error_reason == reason, spec
            assert await served_version(engine) == 1, spec
        info = await engine.swap_slot("cls", f"{CLS}@2@paddle")  # a good load clears the error
        assert (info.version, info.error, info.error_reason) == (2, "", "")

    run(engine_for(repo, {"cls": f"{CLS}@1"}), scenario)


def test_a_recognizer_without_its_dictionary_does_not_replace_the_old_one(
        repo: ModelRepository, model_repository: Path, tmp_path: Path) -> None:
    rec_source = model_repository / REC / "1"
    repo.install_dir(REC, rec_source, source="test")
    without = install_broken(repo, tmp_path, REC, rec_source, lambda p: (p / "dict.txt").unlink())
    short_dict = tmp_path / "short_dict.txt"
    short_dict.write_text("a\nb\nc\n", encoding="utf-8")
    wrong = install_broken(repo, tmp_path, REC, rec_source, lambda p: None,
                           dictionary=short_dict)

    async def scenario(engine: Engine) -> None:
        for version, text in ((without, "dict.txt is missing"), (wrong, "classes")):
            with pytest.raises(FailedPrecondition, match=text) as info:
                await engine.swap_slot("rec", f"{REC}@{version}")
            assert info.value.reason == Reason.MODEL_LOAD_FAILED
            slot = engine.slots()["rec"]
            assert (slot.state, slot.version) == ("READY", 1) and text in slot.error
            inferred = await engine.infer("rec", [rec_input(np.zeros((32, 100, 3), np.uint8),
                                                            32, 320)])
            assert [m.version for m in inferred.models] == [1]

    run(engine_for(repo, {"rec": f"{REC}@1"}), scenario)


def test_expected_versions_busy_slots_and_request_ids(repo: ModelRepository) -> None:
    async def scenario(engine: Engine) -> None:
        with pytest.raises(FailedPrecondition, match="not v7") as info:
            await engine.swap_slot("cls", f"{CLS}@2", expected_version=7)
        assert info.value.reason == Reason.MODEL_VERSION_MISMATCH
        assert info.value.metadata == {"slot": "cls", "expected": "7", "serving": "1"}
        assert await served_version(engine) == 1

        first = asyncio.create_task(engine.swap_slot("cls", f"{CLS}@2", expected_version=1,
                                                     request_id="swap-1"))
        again = asyncio.create_task(engine.swap_slot("cls", f"{CLS}@2", expected_version=1,
                                                     request_id="swap-1"))
        while engine.slots()["cls"].standby_state is None:
            await engine.wait_slots_changed(engine.slots_version)
        with pytest.raises(FailedPrecondition, match="busy") as busy:
            await engine.swap_slot("cls", f"{CLS}@1", request_id="swap-2")
        assert busy.value.reason == Reason.SLOT_BUSY
        swapped, repeated = await asyncio.gather(first, again)
        assert swapped == repeated and swapped.version == 2

        version = engine.slots_version
        assert await engine.swap_slot("cls", f"{CLS}@2", expected_version=1,
                                      request_id="swap-1") == swapped
        assert engine.slots_version == version  # answered from the log: nothing happened
        with pytest.raises(InvalidInput, match="already used"):
            await engine.swap_slot("cls", f"{CLS}@1", request_id="swap-1")
        with pytest.raises(FailedPrecondition, match="busy"):  # swap-2's error was stored
            await engine.swap_slot("cls", f"{CLS}@1", request_id="swap-2")
        back = await engine.swap_slot("cls", f"{CLS}@1", expected_version=2, request_id="swap-3")
        assert back.version == 1 and await served_version(engine) == 1

    run(engine_for(repo, {"cls": f"{CLS}@1"}), scenario)


def test_slots_are_loaded_and_unloaded(repo: ModelRepository, tmp_path: Path) -> None:
    staged = tmp_path / "garbage"
    staged.mkdir()
    garbage(staged / "model.onnx")
    broken = repo.install_dir(CLS, staged, source="test").version

    async def scenario(engine: Engine) -> None:
        with pytest.raises(InvalidInput, match="needs a cls model"):
            await engine.load_slot("cls:b", DET)
        assert "cls:b" not in engine.slots()
        with pytest.raises(FailedPrecondition, match="did not load"):
            await engine.load_slot("cls:b", f"{CLS}@{broken}")
        failed = engine.slots()["cls:b"]  # kept, to show the error
        assert failed.state == "FAILED" and "did not load" in failed.error
        # the runtime's own text and the server's paths stay in the log
        assert "Exception from" not in failed.error and str(tmp_path) not in failed.error
        assert failed.error.endswith("could not read model.onnx"), failed.error
        with pytest.raises(FailedPrecondition, match="failed to load"):
            await engine.infer("cls:b", cls_items())

        info = await engine.load_slot("cls:b", f"{CLS}@paddle")
        assert (info.state, info.version, info.format, info.error) == ("READY", 2, "paddle", "")
        assert info.model_bytes and info.model_bytes > 100_000
        assert await served_version(engine, "cls:b") == 2
        with pytest.raises(FailedPrecondition, match="already serves") as exists:
            await engine.load_slot("cls:b", f"{CLS}@1")
        assert exists.value.reason == Reason.SLOT_EXISTS

        with pytest.raises(FailedPrecondition, match="not v1"):
            await engine.unload_slot("cls:b", expected_version=1)
        gone = await engine.unload_slot("cls:b", expected_version=2)
        assert (gone.state, gone.version) == ("UNLOADED", 2)
        assert "cls:b" not in engine.slots()
        with pytest.raises(NotFound, match="no slot named 'cls:b'"):
            await engine.infer("cls:b", cls_items())
        with pytest.raises(NotFound):
            await engine.unload_slot("cls:b")
        assert await served_version(engine) == 1  # the other slot never noticed

    run(engine_for(repo, {"cls": f"{CLS}@1"}), scenario)


def test_a_cold_slot_loads_on_first_use_while_other_slots_serve(
        repo: ModelRepository) -> None:
    async def scenario(engine: Engine) -> None:
        assert engine.slots()["cls:b"].state == "COLD"
        assert engine.stats().keys() == {"cls"}
        states: list[str] = []
        engine.add_slots_listener(lambda _: states.append(engine.slots()["cls:b"].state))
        first_use = asyncio.create_task(engine.infer("cls:b", cls_items()))
        while engine.slots()["cls:b"].state == "COLD":
            await engine.wait_slots_changed(engine.slots_version)
        during = [await served_version(engine) for _ in range(3)]  # not held up by the load
        assert during == [1, 1, 1]
        inferred = await first_use
        assert [m.version for m in inferred.models] == [2]
        assert states[0] == "LOADING" and states[-1] == "READY"
        assert "WARMING" in states
        info = engine.slots()["cls:b"]
        assert info.state == "READY" and info.last_used is not None

    run(engine_for(repo, {"cls": f"{CLS}@1", "cls:b": f"{CLS}@2"}, cold=["cls:b"]), scenario)


def test_a_first_use_that_outlasts_its_deadline_fails_but_the_load_goes_on(
        repo: ModelRepository) -> None:
    async def scenario(engine: Engine) -> None:
        with pytest.raises(DeadlineExceeded, match="while slot cls:b loaded"):
            await engine.infer("cls:b", cls_items(), deadline=time.monotonic() + 0.001)
        while engine.slots()["cls:b"].state != "READY":
            await engine.wait_slots_changed(engine.slots_version)
        assert await served_version(engine, "cls:b") == 2

    run(engine_for(repo, {"cls": f"{CLS}@1", "cls:b": f"{CLS}@2"}, cold=["cls:b"]), scenario)


def test_least_recently_used_slots_are_evicted_but_never_busy_ones(
        repo: ModelRepository) -> None:
    loaded_states = {"LOADING", "WARMING", "READY", "DRAINING"}

    async def scenario(engine: Engine) -> None:
        most_loaded = [0]

        def count(_: int) -> None:
            loaded = sum(i.state in loaded_states for i in engine.slots().values())
            most_loaded[0] = max(most_loaded[0], loaded)

        engine.add_slots_listener(count)
        states = {name: info.state for name, info in engine.slots().items()}
        assert states == {"cls:a": "READY", "cls:b": "READY", "cls:c": "COLD"}
        await served_version(engine, "cls:b")
        await served_version(engine, "cls:a")  # now cls:b is the least recently used
        assert await served_version(engine, "cls:c") == 1
        states = {name: info.state for name, info in engine.slots().items()}
        assert states == {"cls:a": "READY", "cls:b": "COLD", "cls:c": "READY"}

        # Make cls:a the least recently used, and busy: cls:c goes instead.
        busy = asyncio.create_task(engine.infer("cls:a", cls_items(512)))
        await asyncio.sleep(0)
        assert await served_version(engine, "cls:c") == 1
        assert engine.stats()["cls:a"].queued + engine.stats()["cls:a"].running > 0
        assert await served_version(engine, "cls:b") == 2
        states = {name: info.state for name, info in engine.slots().items()}
        assert states == {"cls:a": "READY", "cls:b": "READY", "cls:c": "COLD"}
        assert len((await busy).outputs) == 512  # eviction dropped none of its work
        assert most_loaded[0] == 2

    run(engine_for(repo, {"cls:a": f"{CLS}@1", "cls:b": f"{CLS}@2", "cls:c": f"{CLS}@1"},
                   cold=["cls:c"], max_loaded_models=2), scenario)


def test_slot_changes_reach_every_front_end(repo: ModelRepository, tmp_path: Path) -> None:
    async def until(client: EngineClient, check: Callable[[dict[str, SlotInfo]], bool]) -> None:
        while not check(dict(client.slots())):
            await client.wait_slots_changed(client.slots_version)

    async def scenario(engine: Engine) -> None:
        server = EngineServer(engine, str(tmp_path / "engine.sock"))
        await server.start()
        one, two = EngineClient(server.path), EngineClient(server.path)
        try:
            await one.start()
            await two.start()
            assert two.slots()["cls"].version == 1
            info = await one.swap_slot("cls", f"{CLS}@2", request_id="op-1")
            assert info.version == 2 and one.slots()["cls"].version == 2  # read your writes
            await until(two, lambda s: s["cls"].version == 2 and s["cls"].state == "READY")
            assert [m.version for m in (await two.infer("cls", cls_items())).models] == [2]

            seen = two.slots_version
            assert await two.swap_slot("cls", f"{CLS}@2", request_id="op-1") == info
            assert two.slots_version == seen  # the stored result: no change happened

            await two.load_slot("cls:b", f"{CLS}@1")
            await until(one, lambda s: "cls:b" in s and s["cls:b"].state == "READY")
            with pytest.raises(FailedPrecondition, match="not v2") as error:
                await one.unload_slot("cls:b", expected_version=2)
            assert error.value.reason == Reason.MODEL_VERSION_MISMATCH
            await one.unload_slot("cls:b", expected_version=1)
            await until(two, lambda s: "cls:b" not in s)
        finally:
            await one.close()
            await two.close()
            await server.close()

    run(engine_for(repo, {"cls": f"{CLS}@1"}), scenario)


def test_the_router_swaps_on_every_engine_and_reports_each(repo: ModelRepository,
                                                         tmp_path: Path) -> None:
    async def main() -> None:
        engines = [engine_for(repo, {"cls": f"{CLS}@1"}) for _ in range(2)]
        servers = [EngineServer(e, str(tmp_path / f"engine-{i}.sock"))
                   for i, e in enumerate(engines)]
        for engine, server in zip(engines, servers, strict=True):
            await engine.start()
            await server.start()
        router = EngineRouter([EngineClient(server.path) for server in servers])
        await router.start()
        try:
            await engines[1].swap_slot("cls", f"{CLS}@2")  # behind the router's back
            version = router.slots_version
            outcomes = await router.swap_slot("cls", f"{CLS}@2", expected_version=1,
                                              request_id="router-1")
            assert [o.engine for o in outcomes] == [s.path for s in servers]
            assert outcomes[0].info is not None and outcomes[0].info.version == 2
            assert outcomes[1].info is None and outcomes[1].error is not None
            assert outcomes[1].error.reason == Reason.MODEL_VERSION_MISMATCH
            await router.wait_slots_changed(version)
            assert router.slots_version > version
            assert [slots["cls"].version for _, slots in router.slots_by_engine()] == [2, 2]
            gone = await router.unload_slot("cls", request_id="router-2")
            assert [o.info.state if o.info else None for o in gone] == ["UNLOADED"] * 2
        finally:
            await router.close()
            for engine, server in zip(engines, servers, strict=True):
                await server.close()
                await engine.close()

    asyncio.run(asyncio.wait_for(main(), 120))


def test_a_memory_budget_evicts_idle_slots_and_refuses_what_cannot_fit(
        repo: ModelRepository) -> None:
    async def scenario(engine: Engine) -> None:
        slots = engine.slots()
        memory = {name: slots[name].memory_bytes or 0 for name in ("cls:a", "cls:b")}
        assert all(m >= (slots[n].model_bytes or 0) > 0 for n, m in memory.items()), slots
        assert slots["cls:c"].memory_bytes is None  # COLD: nothing loaded

        # Room for what is loaded and cls:c (the model of cls:a, so its footprint is
        # known) less half of cls:b: loading cls:c must evict cls:b, the least recently
        # used, and then fits.  (The first model loaded also measures its runtime's
        # start-up, so the two slots' figures differ by tens of MiB.)
        engine.memory_budget_bytes = sum(memory.values()) + memory["cls:a"] - memory["cls:b"] // 2
        await served_version(engine, "cls:b")
        await served_version(engine, "cls:a")
        assert await served_version(engine, "cls:c") == 1
        states = {name: info.state for name, info in engine.slots().items()}
        assert states == {"cls:a": "READY", "cls:b": "COLD", "cls:c": "READY"}

        # A budget nothing fits in: a swap is refused before anything is evicted,
        # and the old model serves on.
        engine.memory_budget_bytes = 1
        with pytest.raises(ResourceExhausted, match="model_memory_budget_mb") as info:
            await engine.swap_slot("cls:a", f"{CLS}@2")
        assert info.value.reason == Reason.MEMORY_BUDGET
        slot = engine.slots()["cls:a"]
        assert (slot.state, slot.version, slot.error_reason) == ("READY", 1, "MEMORY_BUDGET")
        assert engine.slots()["cls:c"].state == "READY"
        assert await served_version(engine, "cls:a") == 1

        # A COLD slot refused for memory stays COLD: it loads once there is room.
        with pytest.raises(ResourceExhausted):
            await engine.infer("cls:b", cls_items())
        assert engine.slots()["cls:b"].state == "COLD"
        engine.memory_budget_bytes = None
        assert await served_version(engine, "cls:b") == 2

    run(engine_for(repo, {"cls:a": f"{CLS}@1", "cls:b": f"{CLS}@2", "cls:c": f"{CLS}@1"},
                   cold=["cls:c"], pinned=["cls:a"]), scenario)


def test_polling_swaps_in_new_versions_of_slots_that_follow_the_latest(
        repo: ModelRepository, model_repository: Path, tmp_path: Path) -> None:
    """Triton's poll mode: a version dropped into the repository replaces the one a
    versionless slot serves; one that fails to load leaves it serving and is not tried
    again; a slot pinned to a version stays."""
    source = model_repository / CLS / "1"

    async def until(condition: Callable[[], bool]) -> None:
        while not condition():
            await engine.wait_slots_changed(engine.slots_version)

    async def scenario(engine: Engine) -> None:
        assert engine.slots()["cls"].version == 1
        new = repo.install_dir(CLS, source, source="test").version  # v3 (v2 is Paddle)
        await until(lambda: engine.slots()["cls"].version == new)
        assert await served_version(engine) == new

        broken = install_broken(repo, tmp_path, CLS, source,
                                lambda p: garbage(p / "model.onnx"))
        await until(lambda: "its manifest says" in engine.slots()["cls"].error)
        assert await served_version(engine) == new
        assert await engine.poll_repository() == []  # the broken version is not retried

        fixed = repo.install_dir(CLS, source, source="test").version
        await until(lambda: engine.slots()["cls"].version == fixed)
        assert fixed > broken
        assert engine.slots()["cls:pinned"].version == 1
        assert await served_version(engine, "cls:pinned") == 1

    engine = engine_for(repo, {"cls": f"{CLS}@onnx", "cls:pinned": f"{CLS}@1"}, poll_s=0.1)
    run(engine, scenario)


def test_each_slot_gets_the_input_range_of_its_model(model_repository: Path) -> None:
    """What TensorRT builds its engines for follows each slot's kind and batch size."""
    settings = Settings(model_repository=str(model_repository), rec_max_batch_size=8,
                        det_max_side_len=2048)
    factory = SlotFactory.from_settings(settings, "cpu")
    det = factory.config(parse_slot_spec(f"det={DET}")).runtime.input_range
    rec = factory.config(parse_slot_spec(f"rec={REC}")).runtime.input_range
    assert det is not None and det.max == (settings.det_max_batch_size, 3, 2048, 2048)
    assert rec is not None and rec.max == (8, 3, 32, 3200)


def test_each_kind_of_slot_takes_its_own_count_of_static_shapes(
        model_repository: Path) -> None:
    """det_static_shapes and cls_static_shapes reach the runtimes of their own kind of
    slot only; recognizers stay dynamic (runtimes/openvino.py, "Static shapes")."""
    factory = SlotFactory.from_settings(
        Settings(model_repository=str(model_repository), det_static_shapes=3,
                 cls_static_shapes=5), "cpu")
    static = {spec.split("=")[0]: factory.config(parse_slot_spec(spec)).runtime.static_shapes
              for spec in (f"det={DET}", f"rec={REC}", f"cls={CLS}@onnx")}
    assert static == {"det": 3, "rec": 0, "cls": 5}
