"""Model sets and the reference pipeline, shared by the fidelity tests and the benchmarks.

PaddleOCR's own pipeline (and RapidOCR's, the benchmarks' other peer) runs in
its own venv (``.venv-ref``) through ``reference_runner.py``; this module only
builds its command line and reads its JSON.  ``convert_to_onnx`` turns
Paddle-format models into ONNX with paddle2onnx (from the same venv) so one
model set can be checked on both backends; ``model_set_repository`` keeps such
converted sets (``v4-onnx``) in a cache folder for the benchmarks.
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

#: where converted model sets go, relative to the working directory like ./models
CONVERTED_MODELS = Path(".cache") / "converted-models"

#: ``--pipeline`` of reference_runner.py -> how tables name it
PEERS = {"paddleocr": "PaddleOCR", "rapidocr": "RapidOCR"}


@dataclass(frozen=True)
class ModelSet:
    """det/cls/rec of one system, by installed name and format."""

    name: str
    det: str
    cls: str
    rec: str
    format: str  # "paddle" | "onnx"
    #: None for a set installed as is; else the installed format the set is converted
    #: from (see :func:`model_set_repository`)
    converted_from: str | None = None

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
#: (c) the v4 set after paddle2onnx: what an ONNX-only peer (RapidOCR) and the server share.
V4_ONNX = ModelSet("v4-onnx", V4_PADDLE.det, V4_PADDLE.cls, V4_PADDLE.rec, "onnx",
                   converted_from="paddle")
#: every set the benchmarks take: the installed ones and the converted one
BENCH_MODEL_SETS = {s.name: s for s in (*MODEL_SETS.values(), V4_ONNX)}


def model_set_repository(model_set: ModelSet, installed: ModelRepository,
                         python: Path | None, cache: Path = CONVERTED_MODELS) -> ModelRepository:
    """The repository that holds ``model_set``'s models.

    An installed set is in ``installed``.  A converted set lives in ``cache``: each model
    missing there (or converted from another installed version) is converted with
    paddle2onnx from ``python``'s venv first, so later runs reuse the files.
    """
    if model_set.converted_from is None:
        return installed
    dest = ModelRepository(cache)
    for kind in ("det", "cls", "rec"):
        model = installed.get(getattr(model_set, kind), format=model_set.converted_from)
        if _converted(model, dest) is not None:
            continue
        if python is None:
            raise ValueError(
                f"model set {model_set.name} needs {model.name} converted with paddle2onnx "
                f"into {cache}: give the reference venv's python (--reference-python)")
        convert_to_onnx(python, model, dest)
    return dest


def run_reference(
    python: Path,
    models: dict[str, InstalledModel],
    images: Sequence[Path],
    *,
    mode: str = "ocr",
    repeat: int = 1,
    warmup: int = 1,
    cpu_threads: int = 2,
    pipeline: str = "paddleocr",
) -> dict[str, Any]:
    """Run PaddleOCR's pipeline (or ``pipeline="rapidocr"``: RapidOCR's, ONNX models only)
    on ``images``; returns the runner's JSON document."""
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
               "--pipeline", pipeline,
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
    existing = _converted(model, dest)
    if existing is not None:
        return existing
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "model.onnx"
        subprocess.run(
            [str(Path(python).with_name("paddle2onnx")), "--model_dir", str(model.path),
             "--model_filename", "inference.pdmodel", "--params_filename", "inference.pdiparams",
             "--save_file", str(onnx_path), "--opset_version", "14"],
            check=True, capture_output=True, text=True)
        return dest.install_dir(
            model.name, Path(tmp), source=_conversion_source(model),
            kind=model.kind, input_shape=model.input_shape,
            dictionary=model.dictionary)


def _conversion_source(model: InstalledModel) -> str:
    return f"paddle2onnx:{model.name}@{model.version}"


def _converted(model: InstalledModel, dest: ModelRepository) -> InstalledModel | None:
    """The ONNX conversion of this very installed version in ``dest``, if there is one."""
    found = [m for m in dest.list() if m.name == model.name and m.format == "onnx"
             and m.source == _conversion_source(model)]
    return found[-1] if found else None
