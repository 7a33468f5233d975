"""Model sets and the reference pipeline, shared by the fidelity tests and the benchmarks.

PaddleOCR's own pipeline runs in its own venv (``.venv-ref``) through
``reference_runner.py``; this module only builds its command line and reads
its JSON.  ``convert_to_onnx`` turns Paddle-format models into ONNX with
paddle2onnx (from the same venv) so one model set can be checked on both
backends.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocrserve.models.repository import InstalledModel, ModelRepository

RUNNER = Path(__file__).with_name("reference_runner.py")


@dataclass(frozen=True)
class ModelSet:
    """det/cls/rec of one system, by installed name and format."""

    name: str
    det: str
    cls: str
    rec: str
    format: str  # "paddle" | "onnx"

    def models(self, repo: ModelRepository, fmt: str | None = None) -> dict[str, InstalledModel]:
        fmt = fmt or self.format
        return {kind: repo.get(getattr(self, kind), format=fmt) for kind in ("det", "cls", "rec")}

    def slots(self, fmt: str | None = None) -> tuple[str, ...]:
        fmt = fmt or self.format
        return tuple(f"{kind}={getattr(self, kind)}@{fmt}" for kind in ("det", "cls", "rec"))


#: (a) PP-OCRv4 det/rec + v2.0 cls in Paddle format; (b) the exact PP-OCRv2 system as ONNX.
V4_PADDLE = ModelSet("v4-paddle", "ch_PP-OCRv4_det", "ch_ppocr_mobile_v2.0_cls",
                     "ch_PP-OCRv4_rec", "paddle")
V2_ONNX = ModelSet("v2-onnx", "ch_PP-OCRv2_det", "ch_ppocr_mobile_v2.0_cls",
                   "ch_PP-OCRv2_rec", "onnx")
MODEL_SETS = {s.name: s for s in (V4_PADDLE, V2_ONNX)}


def run_reference(
    python: Path,
    models: dict[str, InstalledModel],
    images: Sequence[Path],
    *,
    mode: str = "ocr",
    repeat: int = 1,
    warmup: int = 1,
    cpu_threads: int = 2,
) -> dict[str, Any]:
    """Run PaddleOCR's pipeline on ``images``; returns the runner's JSON document."""
    rec = models["rec"]
    fmt = {m.format for m in models.values()}
    if len(fmt) != 1:
        raise ValueError(f"a reference model set must have one format, got {fmt}")
    height = rec.input_shape[1]
    if rec.dictionary is None:
        raise ValueError(f"{rec.name} has no dictionary")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        cmd = [str(python), str(RUNNER),
               "--det", str(models["det"].path), "--cls", str(models["cls"].path),
               "--rec", str(rec.path), "--rec-char-dict", str(rec.dictionary),
               "--rec-image-shape", f"3, {height}, 320", "--mode", mode,
               "--repeat", str(repeat), "--warmup", str(warmup),
               "--cpu-threads", str(cpu_threads), "--output", str(out),
               *(["--use-onnx"] if fmt == {"onnx"} else []),
               "--images", *map(str, images)]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def convert_to_onnx(python: Path, model: InstalledModel, dest: ModelRepository) -> InstalledModel:
    """paddle2onnx (opset 14, docs/facts.md#runtime-quirks) a Paddle model into ``dest``
    under the same name."""
    if model.format != "paddle":
        raise ValueError(f"{model.name} v{model.version} is not a Paddle model")
    existing = [m for m in dest.list() if m.name == model.name and m.format == "onnx"]
    if existing:
        return existing[-1]
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "model.onnx"
        subprocess.run(
            [str(Path(python).with_name("paddle2onnx")), "--model_dir", str(model.path),
             "--model_filename", "inference.pdmodel", "--params_filename", "inference.pdiparams",
             "--save_file", str(onnx_path), "--opset_version", "14"],
            check=True, capture_output=True, text=True)
        return dest.install_dir(
            model.name, Path(tmp), source=f"paddle2onnx:{model.name}@{model.version}",
            kind=model.kind, input_shape=model.input_shape,
            dictionary=model.dictionary)
