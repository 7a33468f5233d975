"""The ModelService through a real multi-process server: its own port and token,
hot swaps under traffic, failed loads that leave the old model serving, cold slots,
and PullModel from a real HTTP server on 127.0.0.1.

The server runs on a copy of the model repository (version folders linked, not
copied) so that pulls and new versions never touch the shared one.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from model_server import served_tarball

from ocrclient import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    OcrClient,
    OcrClientError,
    Unauthenticated,
    Unimplemented,
)
from ocrclient.admin import AdminClient
from ocrserve.bench.spawn import ServerProcess
from ocrserve.supervisor.multiprocess import free_port

pytestmark = pytest.mark.slow

TOKEN = "s3cret-admin-token"
MODELS = ("ch_PP-OCRv2_det", "ch_PP-OCRv2_rec", "ch_PP-OCRv4_rec", "ch_ppocr_mobile_v2.0_cls")
SLOTS = ["--slot", "det=ch_PP-OCRv2_det", "--slot", "cls=ch_ppocr_mobile_v2.0_cls@onnx",
         "--slot", "rec=ch_PP-OCRv2_rec", "--slot", "rec:second=ch_PP-OCRv2_rec",
         "--slot", "rec:cold=ch_PP-OCRv2_rec"]


def linked_repository(source: Path, dest: Path) -> Path:
    """``dest`` with ``source``'s version folders of MODELS, as symlinks."""
    for name in MODELS:
        for version in sorted((source / name).iterdir()):
            if version.is_dir():
                (dest / name).mkdir(parents=True, exist_ok=True)
                (dest / name / version.name).symlink_to(version.resolve())
    return dest


@pytest.fixture(scope="module")
def repository(model_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return linked_repository(model_repository, tmp_path_factory.mktemp("admin-models"))


@pytest.fixture(scope="module")
def server(repository: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[ServerProcess, str]]:
    admin_port = free_port("127.0.0.1")
    cache = tmp_path_factory.mktemp("admin-cache")
    with ServerProcess(["--workers", "2", *SLOTS, "--lazy-slots", "rec:second",
                        "--lazy-slots", "rec:cold",
                        "--admin-port", str(admin_port), "--pull-allowed-hosts", "127.0.0.1"],
                       env={"OCR_MODEL_REPOSITORY": str(repository),
                            "OCR_ADMIN_TOKEN": TOKEN, "OCR_CACHE_DIR": str(cache)}) as proc:
        yield proc, f"127.0.0.1:{admin_port}"


@pytest.fixture
def admin(server: tuple[ServerProcess, str]) -> Iterator[AdminClient]:
    with AdminClient(server[1], token=TOKEN, timeout=300) as client:
        yield client


@pytest.fixture
def client(server: tuple[ServerProcess, str]) -> Iterator[OcrClient]:
    with OcrClient(server[0].target, timeout=120) as ocr:
        yield ocr


def served(admin: AdminClient, slot: str) -> set[tuple[str, int, str]]:
    return {(s.model, s.version, s.state) for s in admin.get_slot(slot)}


def test_the_admin_api_needs_its_token_and_its_own_port(
        server: tuple[ServerProcess, str], client: OcrClient, sign: Path) -> None:
    proc, admin_target = server
    with AdminClient(admin_target, timeout=30) as anonymous, pytest.raises(Unauthenticated):
        anonymous.list_slots()
    with AdminClient(admin_target, token="wrong", timeout=30) as guessing, \
            pytest.raises(Unauthenticated):
        guessing.get_slot("rec")
    with AdminClient(proc.target, token=TOKEN, timeout=30) as on_ocr_port, \
            pytest.raises(Unimplemented):
        on_ocr_port.list_slots()
    assert client.ocr_one(sign).lines  # the OCR API needs no token


def test_a_cold_slot_loads_on_first_use(admin: AdminClient, client: OcrClient,
                                        sign: Path) -> None:
    assert {s.state for s in admin.get_slot("rec:second")} == {"COLD"}
    started = time.monotonic()
    cold = client.ocr_one(sign, language="second")
    first_use_s = time.monotonic() - started
    assert [x.text for x in cold.lines] == [x.text for x in client.ocr_one(sign).lines]
    (second,) = admin.get_slot("rec:second")
    assert second.state == "READY" and second.memory_bytes >= second.model_bytes > 0
    print(f"first use of a cold recognizer slot: {first_use_s:.2f} s")


def test_swaps_under_traffic_lose_no_request(admin: AdminClient, client: OcrClient,
                                             sign: Path) -> None:
    failures: list[OcrClientError] = []
    versions: set[str] = set()
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            try:
                result = client.ocr_one(sign)
            except OcrClientError as exc:
                failures.append(exc)
            else:
                versions.update(m.name for m in result.models if m.stage == "rec")

    threads = [threading.Thread(target=traffic) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        progress: list[str] = []
        for model in ("ch_PP-OCRv4_rec", "ch_PP-OCRv2_rec"):
            slots = admin.swap_slot("rec", model,
                                    on_progress=lambda s: progress.extend(x.state for x in s))
            assert {(s.model, s.state) for s in slots} == {(model, "READY")}
            time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(120)
    assert not failures, failures[:3]
    assert versions == {"ch_PP-OCRv2_rec", "ch_PP-OCRv4_rec"}
    assert "READY" in progress


@pytest.mark.parametrize(("model", "error", "reason"), [
    ("ch_PP-OCRv2_det", InvalidArgument, None),  # a detector cannot serve a rec slot
    ("no_such_model", NotFound, "MODEL_NOT_FOUND"),
    ("ch_PP-OCRv2_rec@7", NotFound, "MODEL_NOT_FOUND"),
])
def test_a_failed_swap_leaves_the_old_model_serving(
        admin: AdminClient, client: OcrClient, sign: Path, model: str,
        error: type[OcrClientError], reason: str | None) -> None:
    before = served(admin, "rec")
    with pytest.raises(error) as failed:
        admin.swap_slot("rec", model)
    assert reason is None or failed.value.reason == reason
    assert served(admin, "rec") == before
    assert client.ocr_one(sign).lines


def flip_one_byte(path: Path) -> None:
    """Damage a file the way a bad disk or a tampered copy would: one byte changed."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage, cause", [
    (lambda v: (v / "model.onnx").write_bytes(b"not a model at all"),
     "model.onnx has 18 bytes, its manifest says"),  # sizes are checked before hashes
    (lambda v: flip_one_byte(v / "model.onnx"), "model.onnx does not match its sha256"),
    (lambda v: (v / "model.onnx.data").write_bytes(b"\0" * 64), "model.onnx.data is not in its"),
], ids=["replaced", "one-byte-flipped", "extra-weights-file"])
def test_a_corrupt_model_fails_the_swap_with_the_cause(
        admin: AdminClient, client: OcrClient, repository: Path, sign: Path,
        damage: Callable[[Path], None], cause: str) -> None:
    """A copy of the real rec model, damaged after install: the load verifies every
    file against the manifest, so the swap fails naming the file, and v1 serves on."""
    broken = repository / "ch_PP-OCRv2_rec" / "9"
    shutil.copytree((repository / "ch_PP-OCRv2_rec" / "1").resolve(), broken)
    manifest = broken / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "version": 9}))
    damage(broken)
    try:
        with pytest.raises(FailedPrecondition) as failed:
            admin.swap_slot("rec", "ch_PP-OCRv2_rec@9")
        assert failed.value.reason == "MODEL_LOAD_FAILED"
        assert f"ch_PP-OCRv2_rec v9: {cause}" in failed.value.details
        assert {(m, v) for m, v, _ in served(admin, "rec")} == {("ch_PP-OCRv2_rec", 1)}
        assert client.ocr_one(sign).lines
    finally:
        shutil.rmtree(broken)


def test_a_failed_swap_leaves_a_cold_slot_cold_with_its_model(
        admin: AdminClient, client: OcrClient, repository: Path, sign: Path) -> None:
    """Nothing serves in a COLD slot, but it still holds the model it would load: a swap
    whose model fails to load must not leave it FAILED (it did, and OCR on it failed)."""
    broken = repository / "ch_PP-OCRv2_rec" / "8"
    shutil.copytree((repository / "ch_PP-OCRv2_rec" / "1").resolve(), broken)
    manifest = broken / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "version": 8}))
    flip_one_byte(broken / "model.onnx")
    try:
        with pytest.raises(FailedPrecondition, match="does not match its sha256"):
            admin.swap_slot("rec:cold", "ch_PP-OCRv2_rec@8")
    finally:
        shutil.rmtree(broken)
    (cold,) = admin.get_slot("rec:cold")
    assert (cold.state, cold.model, cold.version) == ("COLD", "ch_PP-OCRv2_rec", 1)
    assert "sha256" in cold.message  # the failed swap's cause stays visible
    assert [x.text for x in client.ocr_one(sign, language="cold").lines] == [
        x.text for x in client.ocr_one(sign).lines]


@pytest.mark.parametrize("slot, model, field", [
    ("rec", "../ch_PP-OCRv2_rec", "model.name"),
    ("rec", "a..b", "model.name"),
    ("rec:../x", "ch_PP-OCRv2_rec", "slot"),
    ("rec:" + "x" * 129, "ch_PP-OCRv2_rec", "slot"),
])
def test_bad_names_are_invalid_arguments_naming_the_field(
        admin: AdminClient, slot: str, model: str, field: str) -> None:
    with pytest.raises(InvalidArgument, match=f"in {field}"):
        admin.load_slot(slot, model)


def test_an_expected_version_guards_against_races(admin: AdminClient) -> None:
    (current,) = {s.version for s in admin.get_slot("cls")}
    with pytest.raises(FailedPrecondition) as failed:
        admin.swap_slot("cls", "ch_ppocr_mobile_v2.0_cls@onnx", expected_version=current + 5)
    assert failed.value.reason == "MODEL_VERSION_MISMATCH"


def test_a_repeated_request_id_is_applied_once(admin: AdminClient) -> None:
    first = admin.load_slot("rec:third", "ch_PP-OCRv2_rec", request_id="load-third-1")
    again = admin.load_slot("rec:third", "ch_PP-OCRv2_rec", request_id="load-third-1")
    assert {s.state for s in first} == {s.state for s in again} == {"READY"}
    with pytest.raises(FailedPrecondition):  # a new request for an existing slot
        admin.load_slot("rec:third", "ch_PP-OCRv2_rec", request_id="load-third-2")
    admin.unload_slot("rec:third")
    with pytest.raises(NotFound):
        admin.get_slot("rec:third")


def test_pull_a_model_over_http_then_swap_to_it(
        admin: AdminClient, client: OcrClient, repository: Path, tmp_path: Path,
        sign: Path) -> None:
    name = "ch_ppocr_mobile_v2.0_cls"
    source = (repository / name / "2").resolve()  # the Paddle-format cls
    with served_tarball(source, name, tmp_path / "www") as url:
        steps: list[str] = []
        done = admin.pull_model(name, url=url, on_progress=lambda p: steps.append(p.phase))
        with pytest.raises(InvalidArgument) as refused:
            admin.pull_model(name, url="http://203.0.113.7/evil.tar")
    assert refused.value.reason == "URL_NOT_ALLOWED"
    assert steps[-1] == "DONE" and "DOWNLOADING" in steps
    assert done.format == "paddle" and len(done.sha256) == 64 and done.version >= 3
    slots = admin.swap_slot("cls", f"{name}@{done.version}")
    assert {(s.version, s.state) for s in slots} == {(done.version, "READY")}
    result = client.ocr_one(sign, use_angle_cls=True)
    assert ("cls", done.version) in {(m.stage, m.version) for m in result.models}


def test_watching_reports_changes_of_state_not_uses(
        server: tuple[ServerProcess, str], admin: AdminClient, client: OcrClient,
        sign: Path) -> None:
    """A slot's use time moves with every request; WatchSlots sent every slot again on
    the next change anywhere, as if it had changed."""
    events: list[tuple[str, str, bool]] = []
    snapshot = len(admin.list_slots())

    def watch() -> None:
        with AdminClient(server[1], token=TOKEN, timeout=None) as watcher:
            for event in watcher.watch_slots():
                events.append((event.slot.slot, event.slot.state, event.removed))
                if event.removed and event.slot.slot == "rec:watched":
                    return

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while len(events) < snapshot and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.5)  # past the staleness a use time may have before it is reported
    assert client.ocr_one(sign).lines
    admin.load_slot("rec:watched", "ch_PP-OCRv2_rec")
    admin.unload_slot("rec:watched")
    thread.join(60)
    assert not thread.is_alive()
    later = events[snapshot:]
    assert {slot for slot, _, _ in later} == {"rec:watched"}, later
    assert ("rec:watched", "READY", False) in later and later[-1][2]
