"""The real ``ocr-models`` command against a real HTTP server on 127.0.0.1.

The served tarball has the official layout (``NAME_infer/inference.*``) and is
built from the Paddle cls model that ``make models`` installed in the model
repository, so the pulled files can be compared with known-good ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from model_server import served_tarball

from ocrserve.models.repository import InstalledModel, ModelRepository

NAME = "ch_ppocr_mobile_v2.0_cls"
CLI = Path(sys.executable).with_name("ocr-models")


@pytest.fixture
def known_good(model_repository: Path) -> InstalledModel:
    return ModelRepository(model_repository).get(NAME, format="paddle")


@pytest.fixture
def tarball_url(known_good: InstalledModel, tmp_path: Path) -> Iterator[str]:
    with served_tarball(known_good.path, NAME, tmp_path / "www") as url:
        yield url


def ocr_models(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"OCR_MODEL_REPOSITORY": str(tmp_path / "repo"), "OCR_CACHE_DIR": str(tmp_path / "cache"),
           "PATH": "/usr/bin:/bin"}
    if "PYTHONPATH" in os.environ:  # the tree under test, not the installed one
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def listing(tmp_path: Path) -> dict[str, Any]:
    done = ocr_models(tmp_path, "list", "--json")
    assert done.returncode == 0, done.stderr
    return {row["name"]: row for row in json.loads(done.stdout)}


def test_pull_list_verify_remove(
    tmp_path: Path, tarball_url: str, known_good: InstalledModel
) -> None:
    pulled = ocr_models(tmp_path, "pull", NAME, "--url", tarball_url)
    assert pulled.returncode == 0, pulled.stderr
    assert pulled.stdout.startswith(f"installed {NAME} v1 (paddle) in {tmp_path / 'repo'}")
    model = ModelRepository(tmp_path / "repo").get(NAME)
    assert model.files == known_good.files
    assert model.source == tarball_url

    table = ocr_models(tmp_path, "list").stdout.splitlines()
    assert any(line.startswith(f"*  {NAME} ") and line.endswith("v1 paddle") for line in table)
    assert listing(tmp_path)[NAME]["installed"] == [
        {"version": 1, "format": "paddle", "path": str(model.path)}
    ]

    again = ocr_models(tmp_path, "pull", NAME, "--url", tarball_url)  # from the cache
    assert "v2 (paddle)" in again.stdout
    assert ocr_models(tmp_path, "verify").returncode == 0

    (model.path / "inference.pdiparams").write_bytes(b"damaged")
    damaged = ocr_models(tmp_path, "verify", NAME)
    assert damaged.returncode == 1
    assert damaged.stdout.splitlines() == [
        f"{NAME} v1: inference.pdiparams has 7 bytes, its manifest says "
        f"{model.sizes['inference.pdiparams']}"
    ]

    assert ocr_models(tmp_path, "remove", NAME, "--version", "1").stdout == f"removed {NAME} v1\n"
    assert ocr_models(tmp_path, "verify").returncode == 0
    assert ocr_models(tmp_path, "remove", NAME).returncode == 0
    assert listing(tmp_path)[NAME]["installed"] == []


def test_import_of_a_model_the_catalog_does_not_know(
    tmp_path: Path, model_repository: Path
) -> None:
    onnx = ModelRepository(model_repository).get(NAME, format="onnx").path / "model.onnx"
    refused = ocr_models(tmp_path, "import", "my_cls", str(onnx))
    assert refused.returncode == 2
    done = ocr_models(tmp_path, "import", "my_cls", str(onnx), "--kind", "cls",
                      "--input-shape", "3,48,0")
    assert done.returncode == 0, done.stderr
    row = listing(tmp_path)["my_cls"]
    assert (row["kind"], row["language"], row["installed"][0]["format"]) == ("cls", None, "onnx")
    assert ModelRepository(tmp_path / "repo").get("my_cls").input_shape == (3, 48, None)


def test_verify_checks_the_names_given_and_exits_1_on_any_problem(
    tmp_path: Path, model_repository: Path
) -> None:
    onnx = ModelRepository(model_repository).get(NAME, format="onnx").path / "model.onnx"
    for name in ("cls_a", "cls_b", "cls_c"):
        done = ocr_models(tmp_path, "import", name, str(onnx), "--kind", "cls",
                          "--input-shape", "3,48,0")
        assert done.returncode == 0, done.stderr
    repo = tmp_path / "repo"
    data = bytearray((repo / "cls_b" / "1" / "model.onnx").read_bytes())
    data[1000] ^= 0x01
    (repo / "cls_b" / "1" / "model.onnx").write_bytes(bytes(data))
    (repo / "cls_c" / "1" / "model.onnx.data").write_bytes(b"extra weights")

    assert ocr_models(tmp_path, "verify", "cls_a").returncode == 0
    damaged = ocr_models(tmp_path, "verify", "cls_a", "cls_b", "cls_c")
    assert damaged.returncode == 1
    assert damaged.stdout.splitlines() == [
        "cls_b v1: model.onnx does not match its sha256",
        "cls_c v1: model.onnx.data is not in its manifest",
    ]
    assert ocr_models(tmp_path, "verify").stdout == damaged.stdout
    bad_name = ocr_models(tmp_path, "verify", "../cls_a")
    assert bad_name.returncode == 2 and "invalid model name '../cls_a'" in bad_name.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("pull", "no_such_model"),
        ("pull", NAME, "--url", "http://127.0.0.1:9/nothing.tar"),  # nothing listens there
        ("verify", NAME),
        ("remove", NAME),
        ("import", NAME, "/no/such/path"),
    ],
)
def test_errors_are_one_line_and_exit_2(tmp_path: Path, args: tuple[str, ...]) -> None:
    done = ocr_models(tmp_path, *args)
    assert done.returncode == 2
    assert done.stderr.startswith("ocr-models: error: ")
    assert len(done.stderr.splitlines()) == 1


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path) -> None:
    env = {"OCR_MODEL_REPOSITORY": str(tmp_path / "repo"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(f"'{CLI}' list | true", shell=True, capture_output=True,
                          text=True, env=env, timeout=120, check=False)
    assert "BrokenPipeError" not in done.stderr, done.stderr
