"""The one table of the GPU benchmark (tools/gpu-bench.sh): each issue-13 target beside
what the run measured.

The script saves each step's ``ocr-bench ... --json`` document in one folder under a
fixed name (:data:`DOCS`); this reads whichever of them exist and prints one row per
target, with a verdict, so a single device run ends in one answer.  Pure: documents in,
markdown out (tested without a GPU on documents of the same shape).

    python -m ocrserve.bench.gpu_summary OUT_DIR
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Doc = Mapping[str, Any]

#: step name -> file the script writes its --json document to
DOCS = {"fidelity": "fidelity.json", "ceiling": "ceiling.json", "load": "load.json",
        "streams": "streams.json", "tests": "tests.json"}


@dataclass(frozen=True)
class Row:
    check: str
    measured: str
    target: str
    ok: bool | None  # None: no target, or nothing measured

    def cells(self) -> list[str]:
        verdict = {True: "ok", False: "MISSED", None: ""}[self.ok]
        return [self.check, self.measured, self.target, verdict]


def _steps(load: Doc, connections: int | None = None) -> list[Doc]:
    steps: list[Doc] = load.get("steps", [])
    if connections is None:
        return steps
    return [s for s in steps if s.get("connections") == connections]


def _concurrency(step: Doc) -> int:
    return int(str(step["step"]).split(",")[0].split()[-1])


def _many_connections(load: Doc) -> int | None:
    counts = {s.get("connections") for s in _steps(load)}
    return max((c for c in counts if isinstance(c, int)), default=None)


def _peak(load: Doc) -> Doc | None:
    """The step of most images/s over the most connections measured."""
    steps = _steps(load, _many_connections(load))
    return max(steps, key=lambda s: s["images_per_s"], default=None)


def tests_row(docs: Mapping[str, Doc]) -> Row:
    doc = docs.get("tests")
    if doc is None:
        return Row("torch backend tests on CUDA", "not run", "pass", None)
    return Row("torch backend tests on CUDA", f"exit {doc['exit_code']}", "pass",
               doc["exit_code"] == 0)


def fidelity_row(docs: Mapping[str, Doc]) -> Row:
    check = "same text as the CPU backend (onnxruntime)"
    doc = docs.get("fidelity")
    if doc is None:
        return Row(check, "not run", ">= 99 % of lines", None)
    found = sum(r["fidelity"]["identical"] for r in doc["rows"])
    total = sum(r["fidelity"]["versus_lines"] for r in doc["rows"])
    share = found / total if total else 0.0
    return Row(check, f"{share:.1%} ({found}/{total} lines)", ">= 99 % of lines",
               share >= 0.99)


def ceiling_row(docs: Mapping[str, Doc]) -> Row:
    doc = docs.get("ceiling")
    if doc is None:
        return Row("bare batched-model ceiling (det + cls + rec)", "not run", "", None)
    return Row("bare batched-model ceiling (det + cls + rec)",
               f"{doc['images_per_s']:.0f} images/s", "", None)


def throughput_rows(docs: Mapping[str, Doc]) -> list[Row]:
    load, ceiling = docs.get("load"), docs.get("ceiling")
    peak = _peak(load) if load else None
    if peak is None:
        return [Row("full OCR through gRPC", "not run", ">= 400 images/s", None)]
    where = f"at concurrency {_concurrency(peak)}, {peak.get('connections')} connections"
    rows = [Row("full OCR through gRPC", f"{peak['images_per_s']:.0f} images/s {where}",
                ">= 400 images/s", peak["images_per_s"] >= 400),
            Row("recognizer mean batch at that load", f"{peak['rec_mean_batch']:.1f}",
                ">= 32", peak["rec_mean_batch"] >= 32)]
    if ceiling:
        share = peak["images_per_s"] / ceiling["images_per_s"]
        rows.append(Row("share of the ceiling", f"{share:.0%}", ">= 70 %", share >= 0.7))
    cpu = peak.get("cpu_ms_per_image") or {}
    frontend = cpu.get("roles", {}).get("frontend")
    if frontend is not None:
        rows.append(Row("front-end CPU per image at that load", f"{frontend:.1f} ms",
                        "<= 20 ms", frontend <= 20))
    return rows


def latency_row(docs: Mapping[str, Doc]) -> Row:
    load = docs.get("load")
    single = [s for s in _steps(load) if _concurrency(s) == 1] if load else []
    if not single:
        return Row("concurrency 1: p50 of full OCR", "not run", "<= 15 ms", None)
    p50 = min(s["p50_ms"] for s in single)
    return Row("concurrency 1: p50 of full OCR", f"{p50:.1f} ms", "<= 15 ms", p50 <= 15)


def one_connection_row(docs: Mapping[str, Doc]) -> Row:
    """Best images/s over one connection against the best over many, same levels."""
    check = "one connection / many connections"
    load = docs.get("load")
    many = _many_connections(load) if load else None
    one, lots = (_steps(load, 1), _steps(load, many)) if load and many else ([], [])
    if not one or not lots or many == 1:
        return Row(check, "not measured", ">= 80 %", None)
    share = max(s["images_per_s"] for s in one) / max(s["images_per_s"] for s in lots)
    return Row(check, f"{share:.0%} (1 vs {many})", ">= 80 %", share >= 0.8)


def streams_row(docs: Mapping[str, Doc]) -> Row:
    doc = docs.get("streams")
    if doc is None:
        return Row("video streams sustained (StreamOcr)", "not run", "", None)
    sustained = [r["streams"] for r in doc["rows"] if r["sustained"]]
    tried = sorted({r["streams"] for r in doc["rows"]})
    return Row("video streams sustained (StreamOcr)",
               f"{max(sustained, default=0)} of {', '.join(map(str, tried))} tried", "", None)


ROWS: list[Callable[[Mapping[str, Doc]], Row | list[Row]]] = [
    tests_row, fidelity_row, ceiling_row, throughput_rows, latency_row, one_connection_row,
    streams_row]


def summary_table(docs: Mapping[str, Doc]) -> str:
    rows: list[Row] = []
    for make in ROWS:
        made = make(docs)
        rows.extend(made if isinstance(made, list) else [made])
    lines = ["| check | measured | issue 13 target | verdict |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def read_docs(folder: Path) -> dict[str, Doc]:
    """The documents the run left in ``folder``; a missing or broken one is left out
    (its rows then say "not run")."""
    docs: dict[str, Doc] = {}
    for step, name in DOCS.items():
        try:
            docs[step] = json.loads((folder / name).read_text())
        except (OSError, ValueError):
            continue
    return docs


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m ocrserve.bench.gpu_summary OUT_DIR", file=sys.stderr)
        return 2
    print(summary_table(read_docs(Path(args[0]))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
