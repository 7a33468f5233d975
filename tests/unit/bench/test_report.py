"""BENCHMARKS.md sections: one per command line, shown so that it can be pasted into a shell."""

from __future__ import annotations

import shlex
from pathlib import Path

from ocrserve.bench.report import update_section

ARGV = ["ocr-bench", "load", "--spawn", "--workers 2", "--duration", "5", "--update", "B.md"]


def doc(date: str) -> dict[str, object]:
    return {"argv": ARGV, "date": date, "machine": "2 CPU cores"}


def test_the_command_is_shown_shell_quoted_and_runs_as_shown(tmp_path: Path) -> None:
    path = tmp_path / "B.md"
    update_section(path, doc("2026-12-03"), "| a |")
    (line,) = [ln for ln in path.read_text().splitlines() if ln.startswith("`")]
    shown = line[1:line.index("`", 1)]
    assert shown == "ocr-bench load --spawn '--workers 2' --duration 5 --update B.md"
    assert shlex.split(shown) == ARGV


def test_a_rerun_replaces_its_section_written_before_the_quoting(tmp_path: Path) -> None:
    """Sections are keyed by the plain join of the argv, as before commands were quoted,
    so a rerun replaces the old section instead of adding a second one."""
    path = tmp_path / "B.md"
    update_section(path, doc("2026-12-02"), "| old |")
    path.write_text(path.read_text().replace("--spawn '--workers 2'", "--spawn --workers 2")
                    + "\nprose after\n")
    update_section(path, doc("2026-12-03"), "| new |")
    text = path.read_text()
    assert "| new |" in text and "| old |" not in text and text.count("bench:") == 2
    assert text.rstrip().endswith("prose after")


def test_json_output_writes_the_same_section(tmp_path: Path) -> None:
    """--json changes what is printed, not what is measured: the run with it replaces
    the section of the run without it, and the line shows the command without it."""
    path = tmp_path / "B.md"
    update_section(path, doc("2026-12-02"), "| old |")
    update_section(path, {**doc("2026-12-03"), "argv": [*ARGV, "--json"]}, "| new |")
    text = path.read_text()
    assert "| new |" in text and "| old |" not in text and text.count("bench:") == 2
    assert "--json" not in text
