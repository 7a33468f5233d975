"""Every inference backend on every model kind: first call, warm calls, agreement.

Per model kind, at the input shapes the pipeline runs (a det page in its 544x960 and
960x736 buckets, a rec or cls batch of 6), each backend that reads the model's format
(onnxruntime for ONNX, Paddle for Paddle, OpenVINO for both) loads the installed model
through :func:`ocrserve.runtimes.load_runtime` with ``RuntimeOptions(cpu_threads=2)``,
as an engine slot does, and is timed on one fixed random input per shape: the first
call at the shape (Paddle with MKLDNN and OpenVINO build kernels then), then the median
of ``repeat`` warm calls, and the median of ``repeat`` calls each made right after a
call at the case's companion shape (``after_other_shape_ms``: in a server the shape
changes from one batch to the next).  Outputs are compared with the format's native
backend on the same input (max absolute difference).  A backend whose library is not installed is
listed as skipped.  ``openvino-static`` is OpenVINO with each shape compiled on its
own (runtimes/openvino.py, "Static shapes"): the shape is run once untimed first, as
the runtime compiles a shape on its second sight, so its "first call" is the
compilation and its warm calls are the static model's.
"""

from __future__ import annotations

import importlib.util
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ocrserve.bench.timing import timed_ms
from ocrserve.models.repository import ModelRepository
from ocrserve.runtimes import RuntimeOptions, load_runtime

OPTIONS = RuntimeOptions(device="cpu", cpu_threads=2)

#: backends that read each format, the native one first
BACKENDS_FOR_FORMAT = {"paddle": ("paddle", "openvino", "openvino-static", "torch"),
                       "onnx": ("onnxruntime", "openvino", "openvino-static", "torch")}
#: the package each backend imports
PACKAGES = {"onnxruntime": "onnxruntime", "paddle": "paddle", "openvino": "openvino",
            "openvino-static": "openvino", "torch": "torch"}


@dataclass(frozen=True)
class Variant:
    """A row's runtime: a backend with options, and untimed runs before the first call."""

    backend: str
    options: RuntimeOptions = OPTIONS
    sightings: int = 0


VARIANTS = {"openvino-static": Variant("openvino", replace(OPTIONS, static_shapes=4), 1)}


@dataclass(frozen=True)
class Case:
    key: str  # what --model takes
    model: str  # installed name
    format: str
    shapes: tuple[tuple[int, int, int, int], ...]
    #: run before each call of the after-another-shape timing
    companion: tuple[int, int, int, int]


CASES = (
    Case("det-v2-onnx", "ch_PP-OCRv2_det", "onnx", ((1, 3, 544, 960), (1, 3, 960, 736)),
         (1, 3, 704, 960)),
    Case("rec-v2-onnx", "ch_PP-OCRv2_rec", "onnx", ((6, 3, 32, 320),), (4, 3, 32, 480)),
    Case("cls-onnx", "ch_ppocr_mobile_v2.0_cls", "onnx", ((6, 3, 48, 192),),
         (14, 3, 48, 192)),
    Case("det-v4-paddle", "ch_PP-OCRv4_det", "paddle", ((1, 3, 544, 960),), (1, 3, 704, 960)),
    Case("rec-v4-paddle", "ch_PP-OCRv4_rec", "paddle", ((6, 3, 48, 320),), (4, 3, 48, 480)),
)
CASE_KEYS = tuple(case.key for case in CASES)


def _installed(backend: str) -> bool:
    return importlib.util.find_spec(PACKAGES[backend]) is not None


def _input(shape: tuple[int, ...]) -> np.ndarray:
    """The same values for every backend: roughly the range of normalised pixels."""
    seed = sum(shape) * 1000 + len(shape)
    return np.random.default_rng(seed).uniform(-1.0, 1.0, shape).astype(np.float32)


def _shape_text(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape))


def measure_runtimes(repo: ModelRepository, keys: Sequence[str] = CASE_KEYS,
                     backends: Sequence[str] | None = None, repeat: int = 15,
                     progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """One row per (model kind, shape, backend); ``skipped`` lists backends not installed."""
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    for case in (c for c in CASES if c.key in keys):
        model = repo.get(case.model, format=case.format)
        native = BACKENDS_FOR_FORMAT[case.format][0]
        reference: dict[tuple[int, ...], np.ndarray] = {}
        for backend in BACKENDS_FOR_FORMAT[case.format]:
            if backends is not None and backend not in backends and backend != native:
                continue
            if not _installed(backend):
                skipped.append(f"{case.key} on {backend} ({PACKAGES[backend]} not installed)")
                continue
            if progress is not None:
                progress(f"{case.key} on {backend}")
            variant = VARIANTS.get(backend, Variant(backend))
            started = time.perf_counter()
            runtime = load_runtime(variant.backend, model.path, case.format, variant.options)
            load_ms = 1000 * (time.perf_counter() - started)
            try:
                for n, shape in enumerate(case.shapes):
                    row = _measure(runtime, shape, case.companion, repeat, reference,
                                   backend == native, variant.sightings)
                    if backends is not None and backend not in backends:
                        continue  # the native backend ran only for the reference output
                    rows.append({"model": case.key, "name": model.name,
                                 "version": model.version, "format": case.format,
                                 "input": _shape_text(shape), "backend": backend,
                                 "native": backend == native,
                                 "load_ms": load_ms if n == 0 else None, **row})
            finally:
                runtime.close()
    return {"options": {"cpu_threads": OPTIONS.cpu_threads, "repeat": repeat},
            "rows": rows, "skipped": skipped}


def _measure(runtime: Any, shape: tuple[int, ...], companion: tuple[int, ...], repeat: int,
             reference: dict[tuple[int, ...], np.ndarray], is_native: bool,
             sightings: int = 0) -> dict[str, Any]:
    batch, other = _input(shape), _input(companion)
    for _ in range(sightings):
        runtime.run(batch)
        runtime.run(other)
    started = time.perf_counter()
    output = runtime.run(batch)
    first_ms = 1000 * (time.perf_counter() - started)
    warm = [timed_ms(runtime.run, batch) for _ in range(max(1, repeat))]
    switched = []
    for _ in range(max(1, repeat)):
        runtime.run(other)
        switched.append(timed_ms(runtime.run, batch))
    diff: float | str | None
    if is_native:
        reference[shape] = output
        diff = 0.0
    elif shape not in reference:
        diff = None  # the native backend is not installed
    elif reference[shape].shape != output.shape:
        diff = f"output {_shape_text(output.shape)} vs {_shape_text(reference[shape].shape)}"
    else:
        diff = float(np.max(np.abs(output - reference[shape])))
    return {"output": _shape_text(output.shape), "first_call_ms": first_ms,
            "warm_median_ms": statistics.median(warm),
            "after_other_shape_ms": statistics.median(switched), "max_abs_diff": diff}
