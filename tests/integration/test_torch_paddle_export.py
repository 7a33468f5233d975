"""Paddle-format models on the torch backend: exported to ONNX once (runtimes/
paddle_export.py), kept beside the repository's versions, redone when stale, and
computing what Paddle Inference computes on the original files."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from ocrserve.errors import ModelError
from ocrserve.models.repository import ModelRepository, exports_dir, sha256_file
from ocrserve.runtimes import RuntimeOptions, load_runtime, paddle_export
from ocrserve.runtimes.paddle_export import EXPORT_FILE, STAMP_FILE

pytest.importorskip("torch")
pytest.importorskip("paddle2onnx")
pytest.importorskip("paddle")

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = Path(os.environ.get("OCR_MODEL_REPOSITORY", ROOT / "models"))
OPTIONS = RuntimeOptions(device="cpu", cpu_threads=2)
#: Every Paddle-format model of the default set, at one of the engine's batch shapes.
CASES = {
    "ch_PP-OCRv4_det/1": (1, 3, 320, 480),
    "ch_PP-OCRv4_rec/1": (6, 3, 48, 320),
    "ch_ppocr_mobile_v2.0_cls/2": (6, 3, 48, 192),
}
CLS = "ch_ppocr_mobile_v2.0_cls/2"


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the Paddle models: the exports are written beside them."""
    root = tmp_path_factory.mktemp("repository")
    for model in CASES:
        shutil.copytree(REPOSITORY / model, root / model)
    return root


def batch(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(0).random(shape, dtype=np.float32)


@pytest.mark.parametrize("model", sorted(CASES))
def test_each_model_is_exported_once_and_matches_paddle_inference(repository: Path,
                                                                   model: str) -> None:
    folder = repository / model
    runtime = load_runtime("torch", folder, "paddle", OPTIONS)
    export = exports_dir(folder) / EXPORT_FILE
    made = export.stat().st_mtime_ns
    x = batch(CASES[model])
    expected = load_runtime("paddle", folder, "paddle", OPTIONS).run(x)
    got = runtime.run(x)
    assert got.shape == expected.shape
    assert float(np.abs(got - expected).max()) < 1e-4, model
    load_runtime("torch", folder, "paddle", OPTIONS).close()  # reuses the kept export
    assert export.stat().st_mtime_ns == made
    # The repository still verifies: the export lives outside the version folder.
    assert ModelRepository(repository).verify(model.split("/")[0]) == []


def test_a_stale_export_is_redone(repository: Path) -> None:
    folder = repository / CLS
    load_runtime("torch", folder, "paddle", OPTIONS).close()
    stamp_path = exports_dir(folder) / STAMP_FILE
    stamp = json.loads(stamp_path.read_text())
    stale = {**stamp, "sources": {**stamp["sources"], "inference.pdiparams": "0" * 64}}
    stamp_path.write_text(json.dumps(stale))
    (exports_dir(folder) / EXPORT_FILE).write_bytes(b"not a model")
    runtime = load_runtime("torch", folder, "paddle", OPTIONS)
    assert json.loads(stamp_path.read_text()) == stamp
    assert runtime.run(batch(CASES[CLS])).shape == (6, 2)


def flip_a_byte(path: Path) -> None:
    """Damage ``path`` the way a bad disk or a stray edit would: same size, one byte off."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def damaged_export(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the cls model exported once, then its kept export damaged: (model
    folder, export file)."""
    folder = tmp_path / CLS
    shutil.copytree(REPOSITORY / CLS, folder)
    load_runtime("torch", folder, "paddle", OPTIONS).close()
    export = exports_dir(folder) / EXPORT_FILE
    flip_a_byte(export)
    return folder, export


def test_a_damaged_export_is_detected_and_exported_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder, export = damaged_export(tmp_path)
    stamp_path = exports_dir(folder) / STAMP_FILE
    assert json.loads(stamp_path.read_text())["export"]["size"] == export.stat().st_size
    with caplog.at_level(logging.WARNING, logger=paddle_export.__name__):
        runtime = load_runtime("torch", folder, "paddle", OPTIONS)
    assert f"the kept ONNX export {export} does not match its sha256" in caplog.text
    # What is loaded is a fresh export, matching its stamp, not the damaged bytes.
    fresh = json.loads(stamp_path.read_text())["export"]
    assert sha256_file(export) == fresh["sha256"]
    assert runtime.run(batch(CASES[CLS])).shape == (6, 2)


def test_a_damaged_export_that_cannot_be_redone_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, export = damaged_export(tmp_path)
    damaged = export.read_bytes()
    # The exporter cannot finish in time: the real child process is killed.
    monkeypatch.setattr(paddle_export, "EXPORT_TIMEOUT_S", 0.01)
    with pytest.raises(ModelError, match=r"kept ONNX export .*model\.onnx does not match its "
                                         r"sha256, and exporting again failed"):
        load_runtime("torch", folder, "paddle", OPTIONS)
    assert export.read_bytes() == damaged  # left for an operator to see, never served


def test_an_unwritable_repository_exports_into_a_scratch_folder(tmp_path: Path) -> None:
    shutil.copytree(REPOSITORY / CLS, tmp_path / CLS)
    (tmp_path / ".exports").write_text("a file where the exports folder would go")
    runtime = load_runtime("torch", tmp_path / CLS, "paddle", OPTIONS)
    assert runtime.run(batch(CASES[CLS])).shape == (6, 2)
    assert (tmp_path / ".exports").is_file()


def test_a_program_paddle2onnx_cannot_read_fails_the_load_clearly(tmp_path: Path) -> None:
    folder = tmp_path / CLS
    shutil.copytree(REPOSITORY / CLS, folder)
    (folder / "inference.pdmodel").write_bytes(np.random.default_rng(1).bytes(3000))
    with pytest.raises(ModelError, match=r"could not export the Paddle model .*Failed"):
        load_runtime("torch", folder, "paddle", OPTIONS)
    assert not (exports_dir(folder) / EXPORT_FILE).exists()


def test_removing_a_version_removes_its_export(tmp_path: Path) -> None:
    shutil.copytree(REPOSITORY / CLS, tmp_path / CLS)
    load_runtime("torch", tmp_path / CLS, "paddle", OPTIONS).close()
    assert exports_dir(tmp_path / CLS).is_dir()
    ModelRepository(tmp_path).remove(CLS.split("/")[0], 2)
    assert not exports_dir(tmp_path / CLS).exists()
