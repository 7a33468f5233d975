"""ocr-bench against real processes, with short steps (figures come from `make bench`).

The load test runs the server and ocr-bench outside the source checkout, as an installed
package is run: nothing in ocrserve.bench may find its paths from the checkout.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ocrserve.bench.spawn import ServerProcess


def bench(*args: str, cwd: Path | None = None) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-m", "ocrserve.bench.cli", *args, "--json"],
                         check=True, capture_output=True, text=True, timeout=300,
                         cwd=cwd).stdout
    doc: dict[str, object] = json.loads(out)
    return doc


def test_load_sweep_reports_each_step(model_repository: Path, small_image_set: list[Path],
                                      tmp_path: Path) -> None:
    report = tmp_path / "BENCHMARKS.md"
    report.write_text("# Benchmarks\n\nProse that must survive.\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"OCR_MODEL_REPOSITORY": str(model_repository.resolve())}
    with ServerProcess(["--workers", "1"], env=env, cwd=elsewhere) as server:
        doc = bench("load", "--server", server.target, "--images", str(small_image_set[0].parent),
                    "--concurrency", "1,3", "--duration", "2", "--update", str(report),
                    cwd=elsewhere)
    steps = doc["steps"]
    assert isinstance(steps, list) and [s["step"] for s in steps] == ["concurrency 1",
                                                                     "concurrency 3"]
    assert all(s["images"] > 0 and s["p50_ms"] > 0 and not s["errors"] for s in steps)
    assert steps[1]["rec_mean_batch"] >= 1.0
    text = report.read_text()
    assert "Prose that must survive." in text and "| concurrency 3 |" in text


def test_transport_measures_every_payload() -> None:
    doc = bench("transport", "--rounds", "3")
    rows = doc["rows"]
    assert isinstance(rows, list) and len(rows) == 4
    assert all(r["round_trip_ms"] > 0 for r in rows)
