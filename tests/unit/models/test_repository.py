"""Installs, versions, manifests and verification of the on-disk repository.

The repository never parses model files, so small stand-in files are enough here;
the real models go through it in test_defaults.py and the CLI integration test.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from ocrserve.errors import InvalidInput, ModelError, NotFound
from ocrserve.models.catalog import dictionary_path, get_entry
from ocrserve.models.repository import ModelRepository, plan_model_files

DET = "ch_PP-OCRv2_det"
REC = "ch_PP-OCRv2_rec"
CLS = "ch_ppocr_mobile_v2.0_cls"


def paddle_dir(path: Path, stem: str = "inference", seed: bytes = b"a") -> Path:
    path.mkdir(parents=True)
    for suffix in (".pdmodel", ".pdiparams", ".pdiparams.info"):
        (path / f"{stem}{suffix}").write_bytes(seed + suffix.encode())
    (path / "README.txt").write_text("not part of the model")
    return path


def onnx_dir(path: Path, filename: str = "det.onnx") -> Path:
    path.mkdir(parents=True)
    (path / filename).write_bytes(b"onnx bytes")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> ModelRepository:
    return ModelRepository(tmp_path / "repo")


def test_plan_normalises_file_names() -> None:
    assert plan_model_files(["x.onnx", "notes.md"]) == ("onnx", {"x.onnx": "model.onnx"})
    assert plan_model_files(["model.pdmodel", "model.pdiparams"]) == (
        "paddle",
        {"model.pdmodel": "inference.pdmodel", "model.pdiparams": "inference.pdiparams"},
    )


@pytest.mark.parametrize(
    "names",
    [
        [],
        ["weights.pdmodel", "weights.pdiparams"],  # neither inference.* nor model.*
        ["inference.pdmodel"],  # parameters missing
        ["a.onnx", "b.onnx"],
        ["a.onnx", "inference.pdmodel", "inference.pdiparams"],
    ],
)
def test_plan_rejects_folders_without_exactly_one_model(names: list[str]) -> None:
    with pytest.raises(InvalidInput):
        plan_model_files(names)


def test_install_writes_files_and_manifest(repo: ModelRepository, tmp_path: Path) -> None:
    src = paddle_dir(tmp_path / "src", stem="model")
    model = repo.install_dir(DET, src, source="https://example.invalid/det.tar")

    assert (model.name, model.version, model.kind, model.format) == (DET, 1, "det", "paddle")
    assert model.path == repo.root / DET / "1"
    assert sorted(p.name for p in model.path.iterdir()) == [
        "inference.pdiparams", "inference.pdiparams.info", "inference.pdmodel", "manifest.json"
    ]
    assert model.files["inference.pdmodel"] == hashlib.sha256(b"a.pdmodel").hexdigest()
    manifest = json.loads((model.path / "manifest.json").read_text())
    assert manifest["input_shape"] == [3, None, None]
    assert manifest["num_classes"] is None
    assert manifest["source"] == "https://example.invalid/det.tar"
    assert manifest["installed_at"].endswith("+00:00")
    assert [p.name for p in repo.root.iterdir()] == [DET]  # no staging folder left


def test_rec_install_carries_its_dictionary(repo: ModelRepository, tmp_path: Path) -> None:
    model = repo.install_dir(REC, onnx_dir(tmp_path / "src"), source="local")
    assert model.format == "onnx"
    assert model.num_classes == 6625
    assert model.dictionary == model.path / "dict.txt"
    assert model.dictionary.read_bytes() == dictionary_path(get_entry(REC)).read_bytes()
    assert set(model.files) == {"model.onnx", "dict.txt"}


def test_versions_count_up_and_get_picks_latest_or_format(
    repo: ModelRepository, tmp_path: Path
) -> None:
    onnx = repo.install_dir(CLS, onnx_dir(tmp_path / "a"), source="a")
    paddle = repo.install_dir(CLS, paddle_dir(tmp_path / "b"), source="b")
    assert (onnx.version, paddle.version) == (1, 2)
    assert repo.get(CLS) == paddle
    assert repo.get(CLS, format="onnx") == onnx
    assert repo.get(CLS, 1) == onnx
    assert [(m.name, m.version) for m in repo.list()] == [(CLS, 1), (CLS, 2)]
    with pytest.raises(NotFound):
        repo.get(CLS, 1, format="paddle")
    with pytest.raises(NotFound):
        repo.get(CLS, 3)
    with pytest.raises(NotFound):
        repo.get(DET)


def test_a_version_folder_that_exists_is_never_reused(
    repo: ModelRepository, tmp_path: Path
) -> None:
    (repo.root / DET / "1").mkdir(parents=True)  # e.g. left by a crash, or a racing install
    model = repo.install_dir(DET, paddle_dir(tmp_path / "src"), source="x")
    assert model.version == 2
    assert repo.list() == [model]  # the broken folder is skipped by readers
    assert len(repo.verify(DET)) == 1  # ... and reported by verify


def test_unknown_models_must_describe_themselves(repo: ModelRepository, tmp_path: Path) -> None:
    src = onnx_dir(tmp_path / "src")
    with pytest.raises(InvalidInput, match="kind and input shape"):
        repo.install_dir("my_det", src, source="x")
    with pytest.raises(InvalidInput, match="give its dictionary"):
        repo.install_dir("my_rec", src, source="x", kind="rec", input_shape=(3, 32, None))
    dictionary = tmp_path / "chars.txt"
    dictionary.write_text("a\nb\nc\n")
    model = repo.install_dir(
        "my_rec", src, source="x", kind="rec", input_shape=(3, 32, None), dictionary=dictionary
    )
    assert (model.kind, model.input_shape, model.num_classes) == ("rec", (3, 32, None), 5)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("../escape", {}),
        (DET, {"kind": "rec"}),  # contradicts the catalog
        ("my_det", {"kind": "det", "input_shape": (3, 32)}),
        ("my_det", {"kind": "table", "input_shape": (3, None, None)}),
    ],
)
def test_bad_installs_are_rejected_and_leave_nothing(
    repo: ModelRepository, tmp_path: Path, name: str, options: dict[str, object]
) -> None:
    with pytest.raises(InvalidInput):
        repo.install_dir(name, onnx_dir(tmp_path / "src"), source="x", **options)  # type: ignore[arg-type]
    assert not repo.root.exists() or list(repo.root.iterdir()) == []


def test_verify_finds_changed_and_missing_files(repo: ModelRepository, tmp_path: Path) -> None:
    model = repo.install_dir(REC, paddle_dir(tmp_path / "src"), source="x")
    assert repo.verify() == []
    (model.path / "inference.pdiparams").write_bytes(b"b.pdiparams")  # same size
    (model.path / "dict.txt").unlink()
    assert sorted(repo.verify(REC)) == [
        f"{REC} v1: dict.txt is missing",
        f"{REC} v1: inference.pdiparams does not match its sha256",
    ]
    with pytest.raises(NotFound):
        repo.verify(DET)


def test_sizes_are_recorded_and_a_changed_size_is_found_before_hashing(
        repo: ModelRepository, tmp_path: Path) -> None:
    model = repo.install_dir(DET, onnx_dir(tmp_path / "src"), source="x")
    assert model.sizes == {"model.onnx": len(b"onnx bytes")}
    (model.path / "model.onnx").write_bytes(b"onnx")
    assert repo.verify(DET) == [f"{DET} v1: model.onnx has 4 bytes, its manifest says 10"]
    manifest = model.path / "manifest.json"  # as written before sizes were recorded
    manifest.write_text(json.dumps({k: v for k, v in json.loads(manifest.read_text()).items()
                                    if k != "sizes"}))
    assert repo.verify(DET) == [f"{DET} v1: model.onnx does not match its sha256"]


def test_verify_finds_files_the_manifest_does_not_list(
        repo: ModelRepository, tmp_path: Path) -> None:
    model = repo.install_dir(DET, onnx_dir(tmp_path / "src"), source="x")
    (model.path / "model.onnx.data").write_bytes(b"external weights")
    assert repo.verify(DET) == [f"{DET} v1: model.onnx.data is not in its manifest"]


@pytest.mark.parametrize("name", ["..", "a..b", "a/b", ".staging-x", "x" * 129, ""])
def test_bad_names_are_refused_naming_the_field(repo: ModelRepository, name: str) -> None:
    with pytest.raises(InvalidInput, match="in name") as failed:
        repo.get(name)
    assert failed.value.field == "name"


def test_the_scan_skips_folders_that_are_not_valid_names_or_versions(
        repo: ModelRepository, tmp_path: Path) -> None:
    model = repo.install_dir(DET, onnx_dir(tmp_path / "src"), source="x")
    for stray in (repo.root / "bad..name" / "1", repo.root / DET / "01", repo.root / DET / "-1"):
        stray.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(model.path, stray)
    assert [(m.name, m.version) for m in repo.list()] == [(DET, 1)]
    with pytest.raises(InvalidInput, match="version"):
        repo.get(DET, 0)


def test_a_manifest_must_match_its_folder(repo: ModelRepository, tmp_path: Path) -> None:
    model = repo.install_dir(DET, paddle_dir(tmp_path / "src"), source="x")
    manifest = model.path / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"version": 1', '"version": 7'))
    with pytest.raises(ModelError, match="manifest names"):
        repo.get(DET, 1)


@pytest.mark.parametrize(
    "listed",
    ["../outside.onnx", "../../outside.onnx", "/etc/hostname", "sub/model.onnx",
     "sub\\model.onnx", "..", ".", ""],
    ids=["parent", "grandparent", "absolute", "subfolder", "backslash", "dotdot", "dot",
         "empty"],
)
def test_a_manifest_may_list_only_names_inside_its_folder(
        repo: ModelRepository, tmp_path: Path, listed: str) -> None:
    model = repo.install_dir(DET, onnx_dir(tmp_path / "src"), source="x")
    outside = model.path.parent / "outside.onnx"  # a real file the name could reach
    outside.write_bytes(b"onnx bytes")
    manifest = model.path / "manifest.json"
    raw = json.loads(manifest.read_text())
    digest = hashlib.sha256(b"onnx bytes").hexdigest()
    manifest.write_text(json.dumps({**raw, "files": {**raw["files"], listed: digest},
                                    "sizes": {**raw["sizes"], listed: 10}}))
    with pytest.raises(ModelError, match=r"manifest lists .*, not a file name in its folder"):
        repo.get(DET, 1)
    assert repo.list() == []  # skipped by the scan, never served
    [problem] = repo.verify(DET)
    assert f"manifest lists {listed!r}" in problem


def test_remove_one_version_then_all(repo: ModelRepository, tmp_path: Path) -> None:
    for seed in (b"1", b"2", b"3"):
        repo.install_dir(DET, paddle_dir(tmp_path / seed.decode(), seed=seed), source="x")
    assert repo.remove(DET, 2) == [2]
    assert [m.version for m in repo.list()] == [1, 3]
    assert repo.remove(DET) == [1, 3]
    assert list(repo.root.iterdir()) == []
    with pytest.raises(NotFound):
        repo.remove(DET)
