"""ocr-bench against real processes, with short steps (figures come from `make bench`).

The load test runs the server and ocr-bench outside the source checkout, as an installed
package is run: nothing in ocrserve.bench may find its paths from the checkout.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from ocrserve.bench.cli import spawn_flags
from ocrserve.bench.fidelity import BENCH_MODEL_SETS
from ocrserve.bench.spawn import ServerProcess
from ocrserve.models.repository import ModelRepository


def bench(*args: str, cwd: Path | None = None,
          env: dict[str, str] | None = None) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-m", "ocrserve.bench.cli", *args, "--json"],
                         check=True, capture_output=True, text=True, timeout=300,
                         cwd=cwd, env={**os.environ, **(env or {})}).stdout
    doc: dict[str, object] = json.loads(out)
    return doc


def ocr_calls(metrics_url: str) -> int:
    """The server's successful Ocr calls, from /metrics."""
    text = urllib.request.urlopen(metrics_url, timeout=5).read().decode()
    line = next(x for x in text.splitlines()
                if x.startswith('ocr_request_success_total{rpc="Ocr"}'))
    return int(float(line.split()[-1]))


def test_load_sweep_reports_each_step(model_repository: Path, small_image_set: list[Path],
                                      tmp_path: Path) -> None:
    report = tmp_path / "BENCHMARKS.md"
    report.write_text("# Benchmarks\n\nProse that must survive.\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"OCR_MODEL_REPOSITORY": str(model_repository.resolve())}
    with ServerProcess(["--workers", "1"], env=env, cwd=elsewhere) as server:
        doc = bench("load", "--server", server.target, "--images", str(small_image_set[0].parent),
                    "--concurrency", "1,3", "--duration", "2", "--warmup", "2",
                    "--update", str(report), cwd=elsewhere)
        served = ocr_calls(server.metrics_url)
    steps = doc["steps"]
    assert isinstance(steps, list) and [s["step"] for s in steps] == ["concurrency 1",
                                                                     "concurrency 3"]
    assert all(s["images"] > 0 and s["p50_ms"] > 0 and not s["errors"] for s in steps)
    # One call per connection, two untimed passes over the set, then the timed calls.
    assert doc["inputs"] == len(small_image_set)
    assert served == 2 + 2 * len(small_image_set) + sum(s["images"] for s in steps)
    assert steps[1]["rec_mean_batch"] >= 1.0
    text = report.read_text()
    assert "Prose that must survive." in text and "| concurrency 3 |" in text


def test_transport_measures_every_payload() -> None:
    doc = bench("transport", "--rounds", "3")
    rows = doc["rows"]
    assert isinstance(rows, list) and len(rows) == 4
    assert all(r["round_trip_ms"] > 0 for r in rows)


def test_runtimes_times_each_backend_against_the_native_one(model_repository: Path,
                                                           tmp_path: Path) -> None:
    report = tmp_path / "BENCHMARKS.md"
    doc = bench("runtimes", "--model", "cls-onnx", "--repeat", "2", "--update", str(report),
                env={"OCR_MODEL_REPOSITORY": str(model_repository.resolve())})
    rows = doc["rows"]
    assert isinstance(rows, list)
    expected = ["onnxruntime"] + [backend for backend in ("openvino", "openvino-static", "torch")
                                  if importlib.util.find_spec(backend.split("-")[0])]
    assert [r["backend"] for r in rows] == expected
    assert all(r["input"] == "6x3x48x192" and r["first_call_ms"] > 0
               and r["warm_median_ms"] > 0 and r["after_other_shape_ms"] > 0 for r in rows)
    assert rows[0]["native"] and rows[0]["max_abs_diff"] == 0.0
    assert all(r["max_abs_diff"] < 1e-4 for r in rows[1:])
    assert "| cls-onnx (ch_ppocr_mobile_v2.0_cls v" in report.read_text()


def test_ceiling_adds_each_models_share_of_a_page(model_repository: Path,
                                                  tmp_path: Path) -> None:
    report = tmp_path / "BENCHMARKS.md"
    doc = bench("ceiling", "--backend", "onnxruntime", "--det-batch", "1", "--cls-batch", "4",
                "--rec-batch", "4", "--lines", "3", "--repeat", "1", "--update", str(report),
                env={"OCR_MODEL_REPOSITORY": str(model_repository.resolve())})
    rows = {r["model"]: r for r in doc["rows"]}  # type: ignore[attr-defined]
    assert rows["det"]["input"] == "1x3x736x1280"
    assert rows["cls"]["input"] == "4x3x48x192"
    assert rows["rec"]["input"] == "4x3x32x320"  # the v2 recognizer's height
    for kind, per_image in {"det": 1, "cls": 3, "rec": 3}.items():
        row = rows[kind]
        assert row["ms_per_image"] == row["batch_ms"] / int(row["input"][0]) * per_image
    total = sum(r["ms_per_image"] for r in rows.values())
    assert doc["images_per_s"] == 1000 / total
    # the arithmetic of each batch and the rate it ran at, against the CPU's dense rate
    for row in rows.values():
        assert row["gflop"] > 0
        assert row["gflops"] == 1000 * row["gflop"] / row["batch_ms"]
    assert doc["dense_gflops"] > 0  # type: ignore[operator]
    text = report.read_text()
    assert "images/s" in text and "of the dense multiply" in text


def test_core_versus_counts_the_lines_two_configurations_share(
        model_repository: Path, small_image_set: list[Path]) -> None:
    env = {"OCR_MODEL_REPOSITORY": str(model_repository.resolve())}
    doc = bench("core", "--model-set", "v2-onnx", "--repeat", "1",
                "--images", str(small_image_set[0].parent), "--server-flags",
                "--backend onnxruntime", "--versus", "--backend openvino", env=env)
    (row,) = doc["rows"]  # type: ignore[misc]
    fidelity = row["fidelity"]
    assert fidelity["versus_lines"] > 0
    assert fidelity["identical"] == fidelity["versus_lines"] == fidelity["our_lines"]
    assert fidelity["max_abs_score_diff"] < 1e-3


def test_core_runs_on_the_device_its_flags_name(small_image_set: list[Path]) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this checks the refusal on a machine without CUDA")
    done = subprocess.run([sys.executable, "-m", "ocrserve.bench.cli", "core", "--model-set",
                           "v2-onnx", "--repeat", "1", "--images",
                           str(small_image_set[0].parent), "--server-flags",
                           "--devices cuda:0 --backend torch"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "cuda:0 requested, but torch sees no CUDA device" in done.stderr


def test_spawned_server_serves_the_model_set() -> None:
    repo = ModelRepository(Path("converted"))
    v4_onnx, v4_paddle, v2 = (BENCH_MODEL_SETS[n] for n in ("v4-onnx", "v4-paddle", "v2-onnx"))
    assert spawn_flags("--workers 2", v4_onnx, repo) == [
        "--workers", "2", "--slot=det=ch_PP-OCRv4_det@onnx",
        "--slot=cls=ch_ppocr_mobile_v2.0_cls@onnx", "--slot=rec=ch_PP-OCRv4_rec@onnx",
        f"--model-repository={repo.root}"]
    assert spawn_flags("--workers 1", v4_paddle, repo)[2:] == [
        "--slot=det=ch_PP-OCRv4_det@paddle", "--slot=cls=ch_ppocr_mobile_v2.0_cls@paddle",
        "--slot=rec=ch_PP-OCRv4_rec@paddle"]
    assert spawn_flags("--workers 1", v2, repo) == ["--workers", "1"]
    given = "--slot det=ch_PP-OCRv2_det --slot rec=ch_PP-OCRv2_rec"
    assert spawn_flags(given, v4_onnx, repo) == given.split()
