"""The GPU benchmark's one table, from documents shaped as ocr-bench --json writes them
(tests/integration/test_bench_cli.py checks that shape on real runs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ocrserve.bench.gpu_summary import DOCS, main, read_docs, summary_table


def load_step(concurrency: int, connections: int, images_per_s: float, p50_ms: float,
              rec_batch: float, frontend_ms: float) -> dict[str, Any]:
    return {"step": f"concurrency {concurrency}, {connections} conn",
            "connections": connections, "images_per_s": images_per_s, "p50_ms": p50_ms,
            "rec_mean_batch": rec_batch,
            "cpu_ms_per_image": {"roles": {"engine": 3.0, "frontend": frontend_ms}}}


def docs() -> dict[str, Any]:
    return {
        "tests": {"exit_code": 0},
        "fidelity": {"rows": [{"fidelity": {"identical": 995, "versus_lines": 1000}}]},
        "ceiling": {"images_per_s": 600.0},
        "load": {"steps": [load_step(1, 1, 70, 14.0, 1, 30), load_step(1, 8, 72, 13.5, 1, 30),
                           load_step(256, 1, 300, 800, 20, 25),
                           load_step(256, 8, 450, 500, 40, 18)]},
        "streams": {"rows": [{"streams": 8, "sustained": True},
                             {"streams": 32, "sustained": False}]},
    }


def rows(table: str) -> dict[str, list[str]]:
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:]]
    return {row[0]: row[1:] for row in cells}


def test_every_target_gets_its_figure_and_verdict() -> None:
    table = rows(summary_table(docs()))
    assert table["same text as the CPU backend (onnxruntime)"] == [
        "99.5% (995/1000 lines)", ">= 99 % of lines", "ok"]
    assert table["full OCR through gRPC"] == [
        "450 images/s at concurrency 256, 8 connections", ">= 400 images/s", "ok"]
    assert table["share of the ceiling"] == ["75%", ">= 70 %", "ok"]
    assert table["recognizer mean batch at that load"][2] == "ok"
    assert table["front-end CPU per image at that load"] == ["18.0 ms", "<= 20 ms", "ok"]
    assert table["concurrency 1: p50 of full OCR"] == ["13.5 ms", "<= 15 ms", "ok"]
    assert table["one connection / many connections"] == ["67% (1 vs 8)", ">= 80 %", "MISSED"]
    assert table["video streams sustained (StreamOcr)"][0] == "8 of 8, 32 tried"
    assert table["torch backend tests on CUDA"] == ["exit 0", "pass", "ok"]


def test_missed_targets_say_so() -> None:
    slow = docs()
    slow["load"]["steps"] = [load_step(1, 8, 40, 25.0, 1, 40), load_step(64, 8, 120, 500, 9, 35)]
    slow["tests"] = {"exit_code": 1}
    table = rows(summary_table(slow))
    for check in ("full OCR through gRPC", "share of the ceiling", "concurrency 1: p50 of full OCR",
                  "recognizer mean batch at that load", "front-end CPU per image at that load",
                  "torch backend tests on CUDA"):
        assert table[check][2] == "MISSED", check
    assert table["one connection / many connections"][0] == "not measured"


def test_steps_that_did_not_run_are_named_and_judged_by_nobody(tmp_path: Path) -> None:
    (tmp_path / DOCS["ceiling"]).write_text(json.dumps({"images_per_s": 600.0}))
    (tmp_path / DOCS["load"]).write_text("{ truncated")
    found = read_docs(tmp_path)
    assert set(found) == {"ceiling"}
    table = rows(summary_table(found))
    assert table["full OCR through gRPC"] == ["not run", ">= 400 images/s", ""]
    assert table["bare batched-model ceiling (det + cls + rec)"][0] == "600 images/s"


def test_main_prints_the_table_and_needs_the_folder(tmp_path: Path, capsys: Any) -> None:
    assert main([]) == 2
    assert main([str(tmp_path)]) == 0
    assert "| check | measured | issue 13 target | verdict |" in capsys.readouterr().out
