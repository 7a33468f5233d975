"""``ocr-client`` as a subprocess against the real ocr-server (single process)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

import ocrclient
from ocrserve.bench.spawn import ServerProcess


@pytest.fixture(scope="module")
def server(model_repository: Path) -> Iterator[ServerProcess]:
    with ServerProcess(["--workers", "0"],
                       env={"OCR_MODEL_REPOSITORY": str(model_repository)}) as proc:
        yield proc


@pytest.fixture(scope="module")
def small_pages(image_set: list[Path]) -> list[Path]:
    """The quick images of the set (VGA and below): the tests are about the CLI."""
    pages = [p for p in image_set if p.suffix == ".png"
             and _pixels(p) <= 640 * 480]
    assert len(pages) >= 2, [p.name for p in image_set]
    return pages


def _pixels(path: Path) -> int:
    with Image.open(path) as image:
        return image.width * image.height


def copies(pages: list[Path], folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        source = pages[number % len(pages)]
        target = folder / f"page{number + 1:02d}_{source.name}"
        shutil.copyfile(source, target)
        paths.append(target)
    return paths


def cli(*argv: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ocrclient.cli", *map(str, argv)],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_forty_images_concurrently_one_jsonl_line_each(server: ServerProcess,
                                                       small_pages: list[Path],
                                                       tmp_path: Path) -> None:
    paths = copies(small_pages, tmp_path, 40)
    run = cli("--server", server.target, "ocr", *paths, "-j", "4", "--jsonl")
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # no progress bar in a pipe, no errors
    entries = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(entries) == 40
    assert sorted(e["index"] for e in entries) == list(range(40))
    assert {e["image"] for e in entries} == {str(p) for p in paths}
    assert all("error" not in e and e["lines"] for e in entries)
    assert all(e["models"] for e in entries)


def test_missing_and_garbage_files_fail_alone(server: ServerProcess, small_pages: list[Path],
                                              tmp_path: Path) -> None:
    good = copies(small_pages, tmp_path, 2)
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"this is not an image")
    missing = tmp_path / "missing.png"
    argv = [good[0], missing, garbage, good[1]]

    run = cli("ocr", *argv, "--server", server.target, "--request-id", "cli-test")
    assert run.returncode == 1
    headers = [line for line in run.stdout.splitlines() if "lines)" in line]
    assert sorted(h.split("  ")[0] for h in headers) == sorted(map(str, good))
    errors = run.stderr.splitlines()
    assert f"error: {missing}: No such file or directory" in errors  # local: nothing sent
    (server_error,) = [line for line in errors if line.startswith(f"{garbage}: error: ")]
    assert "INVALID_ARGUMENT [IMAGE_UNDECODABLE]" in server_error
    assert server_error.endswith("(request id cli-test-3)")  # the third request
    assert errors[-1] == "2 of 4 images failed"

    run = cli("--json", "ocr", *argv, "--server", server.target)
    assert run.returncode == 1
    document = json.loads(run.stdout)
    assert [r["image"] for r in document["results"]] == list(map(str, argv))
    ok, local, remote, ok_too = document["results"]
    assert ok["lines"] and ok_too["lines"]
    assert local["error"] == {"code": "LOCAL", "reason": "ENOENT",
                              "message": "No such file or directory", "request_id": None}
    assert remote["error"]["code"] == "INVALID_ARGUMENT"
    assert remote["error"]["reason"] == "IMAGE_UNDECODABLE"
    assert remote["error"]["request_id"]  # the server made one up
    assert document["failed"] == 2


def test_draw_into_the_inputs_folder_keeps_the_inputs(server: ServerProcess,
                                                      small_pages: list[Path],
                                                      tmp_path: Path) -> None:
    paths = copies(small_pages, tmp_path, 2)
    before = {p.name: digest(p) for p in paths}
    names = [p.name for p in paths]
    run = cli("--server", server.target, "ocr", *names, "--draw", ".", "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert {p.name: digest(p) for p in paths} == before
    document = json.loads(run.stdout)
    for path, entry in zip(paths, document["results"], strict=True):
        drawn = tmp_path / entry["drawn"]
        assert drawn.name == path.stem + ".ocr.png"
        with Image.open(path) as source, Image.open(drawn) as output:
            assert output.format == "PNG"
            assert output.size == (2 * source.width, source.height)  # side by side

    run = cli("--server", server.target, "detect", *names, "--draw", ".", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert {p.name: digest(p) for p in paths} == before
    with Image.open(paths[0]) as source, \
            Image.open(tmp_path / (paths[0].stem + ".det.png")) as output:
        assert output.size == source.size  # detect draws boxes only, by default


def test_shared_flags_after_the_verb(server: ServerProcess, small_pages: list[Path]) -> None:
    run = cli("ocr", small_pages[0], "--json", "--server", server.target, "--timeout", "60",
              "-j", "2", "--no-cls")
    assert run.returncode == 0, run.stderr
    (entry,) = json.loads(run.stdout)["results"]
    assert entry["image"] == str(small_pages[0]) and entry["lines"]


def test_version() -> None:
    run = cli("--version")
    assert run.returncode == 0
    assert run.stdout.strip() == f"ocr-client {ocrclient.__version__}"


def test_info(server: ServerProcess) -> None:
    run = cli("info", "--server", server.target)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("server: ocrserve ")
    assert "images/request" in run.stdout and "slots:" in run.stdout
    document = json.loads(cli("--json", "info", "--server", server.target).stdout)
    assert document["limits"]["max_images_per_request"] >= 1
    assert document["defaults"]["box_thresh"] > 0
    assert {slot["model"]["stage"] for slot in document["slots"]} >= {"det", "rec"}


def test_unknown_language_is_reported_once(server: ServerProcess, small_pages: list[Path],
                                           tmp_path: Path) -> None:
    paths = copies(small_pages, tmp_path, 6)
    run = cli("ocr", *paths, "--lang", "klingon", "-j", "1", "--server", server.target)
    assert run.returncode == 1
    errors = run.stderr.splitlines()
    assert errors[0].startswith("error: NOT_FOUND [SLOT_NOT_FOUND]: ")
    assert errors[-1] == "6 of 6 images failed"
    assert run.stdout == ""
