"""``ocr-bench soak`` for ~24 s against one real server: the injected faults are counted and
the verdict is computed from them (the 10-minute figures come from `make soak`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ocrserve.bench.soak import Failure, SoakRecord, _report


@pytest.fixture(scope="module")
def soaked(model_repository: Path, small_image_set: list[Path],
           tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any], str]:
    """One short soak through the CLI: its exit code, JSON document and the report file."""
    report = tmp_path_factory.mktemp("soak") / "BENCHMARKS.md"
    report.write_text("# Benchmarks\n\nProse that must survive.\n")
    done = subprocess.run(
        [sys.executable, "-m", "ocrserve.bench.cli", "soak", "--duration", "24",
         "--swap-every", "7", "--malformed-every", "2", "--sample-every", "2",
         "--images", str(small_image_set[0].parent), "--update", str(report), "--json"],
        capture_output=True, text=True, timeout=400,
        env={**os.environ, "OCR_MODEL_REPOSITORY": str(model_repository.resolve())})
    return done.returncode, json.loads(done.stdout), report.read_text()


def test_the_engine_kill_is_counted_and_recovered(soaked: tuple[int, dict[str, Any], str]
                                                  ) -> None:
    _, doc, _ = soaked
    (kill,) = doc["kills"]
    assert kill["new_pid"] != kill["pid"]
    assert kill["killed_at_s"] < kill["serving_at_s"] < doc["duration_s"]
    assert doc["rules"]["engine restarted after kill -9"]


def test_every_kind_of_traffic_was_served(soaked: tuple[int, dict[str, Any], str]) -> None:
    _, doc, _ = soaked
    for kind in ("ocr", "detect", "recognize", "stream processed", "swap"):
        assert doc["served"].get(kind, 0) > 0, (kind, doc["served"], doc["failures"])


def test_each_malformed_input_is_refused_with_invalid_argument(
        soaked: tuple[int, dict[str, Any], str]) -> None:
    _, doc, _ = soaked
    assert set(doc["malformed"]) == {"garbage -> INVALID_ARGUMENT",
                                     "huge-header -> INVALID_ARGUMENT",
                                     "empty -> INVALID_ARGUMENT"}


def test_the_verdict_passes_and_is_written_with_the_rss_table(
        soaked: tuple[int, dict[str, Any], str]) -> None:
    returncode, doc, report = soaked
    assert doc["verdict"] == "PASS", (doc["rules"], doc["unexpected_failures"])
    assert returncode == 0
    assert set(doc["rss"]) == {"supervisor", "frontend-0", "frontend-1", "engine-cpu"}
    assert len(doc["rss_series"]) >= 5
    assert "Prose that must survive." in report
    assert "Verdict: **PASS**" in report and "| engine-cpu |" in report


def _record(failure: Failure) -> SoakRecord:
    record = SoakRecord()
    record.served["ocr"] = 10
    record.malformed["garbage -> INVALID_ARGUMENT"] = 1
    record.kills.append({"pid": 1, "new_pid": 2, "killed_at_s": 10.0, "serving_at_s": 12.0})
    record.rss = [(0.0, {"engine-cpu": 500.0}), (30.0, {"engine-cpu": 510.0})]
    record.failures.append(failure)
    return record


def _verdict(record: SoakRecord) -> str:
    doc = _report(record, {"alive": {"supervisor": True}, "answered": True}, duration_s=60,
                  swap_every_s=10, malformed_every_s=5, rss_growth=0.5)
    verdict: str = doc["verdict"]
    return verdict


def test_unavailable_during_the_engine_restart_is_expected() -> None:
    assert _verdict(_record(Failure(11.0, "ocr", "UNAVAILABLE", "engine restarting"))) == "PASS"


def test_unavailable_outside_the_restart_or_another_code_fails() -> None:
    assert _verdict(_record(Failure(40.0, "ocr", "UNAVAILABLE", "late"))) == "FAIL"
    assert _verdict(_record(Failure(11.0, "ocr", "INTERNAL", "boom"))) == "FAIL"
