"""Slot changes survive an engine's restart (engine/remembered_slots.py): an engine
killed with -9 comes back serving what the ModelService made it serve, not the
configuration; and when that no longer loads, with the configuration rather than
in a crash loop."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ocrclient import OcrClient
from ocrclient.admin import AdminClient
from ocrserve.bench.spawn import ServerProcess
from ocrserve.supervisor.multiprocess import free_port

pytestmark = pytest.mark.slow

TOKEN = "restart-admin-token"
CLS = "ch_ppocr_mobile_v2.0_cls"
MODELS = ("ch_PP-OCRv2_det", "ch_PP-OCRv2_rec", CLS)
SLOTS = ["--slot", "det=ch_PP-OCRv2_det", "--slot", f"cls={CLS}@1",
         "--slot", "rec=ch_PP-OCRv2_rec"]


def wait_for(condition: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def repository(model_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The models' version folders as links, so a test can remove one."""
    root = tmp_path_factory.mktemp("restart-models")
    for name in MODELS:
        for version in (model_repository / name).iterdir():
            if version.is_dir():
                (root / name).mkdir(exist_ok=True)
                (root / name / version.name).symlink_to(version.resolve())
    return root


@pytest.fixture(scope="module")
def server(repository: Path) -> Iterator[tuple[ServerProcess, str]]:
    admin_port = free_port("127.0.0.1")
    with ServerProcess(["--workers", "1", *SLOTS, "--admin-port", str(admin_port)],
                       env={"OCR_MODEL_REPOSITORY": str(repository),
                            "OCR_ADMIN_TOKEN": TOKEN}) as proc:
        yield proc, f"127.0.0.1:{admin_port}"


def restart_engine(proc: ServerProcess) -> None:
    before = proc.child_pids()["engine-cpu"]
    os.kill(before, signal.SIGKILL)
    wait_for(lambda: proc.child_pids().get("engine-cpu", before) != before)
    wait_for(lambda: proc.health() == "SERVING")


def served(admin: AdminClient) -> dict[str, tuple[str, int]]:
    return {s.slot: (s.model, s.version) for s in admin.list_slots() if s.state == "READY"}


def test_an_engine_restarts_with_the_slots_it_served(server: tuple[ServerProcess, str],
                                                     repository: Path, sign: Path) -> None:
    proc, admin_target = server
    with AdminClient(admin_target, token=TOKEN, timeout=300) as admin:
        admin.swap_slot("cls", f"{CLS}@2")  # the Paddle-format version
        admin.load_slot("rec:second", "ch_PP-OCRv2_rec")
        changed = served(admin)
        assert changed["cls"] == (CLS, 2) and "rec:second" in changed

        restart_engine(proc)
        wait_for(lambda: served(admin) == changed)
        assert "restarted with the slots its predecessor served" in proc.log()
        with OcrClient(proc.target, timeout=120) as client:
            assert client.ocr_one(sign, language="second").lines

        # Version 2 goes away: the next engine cannot serve what this one does, so it
        # starts with the configuration instead of failing to start again and again.
        (repository / CLS / "2").unlink()
        restart_engine(proc)
        wait_for(lambda: "rec:second" not in served(admin))
        assert served(admin)["cls"] == (CLS, 1)
        assert "do not load" in proc.log()
        with OcrClient(proc.target, timeout=120) as client:
            assert client.ocr_one(sign).lines
