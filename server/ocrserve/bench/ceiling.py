"""The bare batched-model ceiling: images/s the three models alone allow.

What full OCR through the server is measured against (issue 13: "≥ 70 % of the
bare batched-model ceiling measured in the same run").  For a page of ``page``
pixels (720p padded to the detector's stride of 32 by default) with ``lines``
text lines, an image costs one detector run's share of a ``det_batch`` batch,
plus ``lines`` shares of a ``cls_batch`` angle-classifier batch and of a
``rec_batch`` recognizer batch (crops 320 px wide, the pipeline's usual width).
Each model is loaded through :func:`ocrserve.runtimes.load_runtime` as an engine
slot loads it and timed on fixed random inputs: the median of ``repeat`` warm
calls after two that warm the shape (a CUDA-graph capture on torch).

The three models' times are added: the ceiling of running one model at a time.
The server may overlap them (every GPU slot has its own thread and CUDA stream),
so a server can in principle beat this figure; on a CPU it cannot.

Each row also gives the model's arithmetic per batch and the rate it ran at, and on
a CPU the rate of the runtime's own dense matrix multiply on as many threads
(bench/flops.py): how near the models already run to what the CPU can do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ocrserve.bench.fidelity import ModelSet
from ocrserve.bench.flops import REFERENCE_SIDE, dense_gflops, model_gflop
from ocrserve.bench.timing import median_ms
from ocrserve.models.repository import ModelRepository
from ocrserve.runtimes import RuntimeOptions, load_runtime

#: 1280x720 rounded up to multiples of 32, as det preprocessing does at limit_side_len 1280.
PAGE = (736, 1280)
CROP_WIDTH = 320
CLS_SHAPE = (3, 48, 192)


@dataclass(frozen=True)
class Workload:
    page: tuple[int, int] = PAGE
    lines: int = 10
    det_batch: int = 8
    cls_batch: int = 64
    rec_batch: int = 64


def measure_ceiling(repo: ModelRepository, model_set: ModelSet, workload: Workload,
                    options: RuntimeOptions, backend: str, repeat: int = 20,
                    progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """One row per model (batch shape, median ms per batch and per item) and the
    resulting images/s."""
    models = model_set.models(repo)
    rec_height = models["rec"].input_shape[1] or 32
    shapes = {
        "det": (workload.det_batch, 3, *workload.page),
        "cls": (workload.cls_batch, *CLS_SHAPE),
        "rec": (workload.rec_batch, 3, rec_height, CROP_WIDTH),
    }
    per_image = {"det": 1, "cls": workload.lines, "rec": workload.lines}
    rows: list[dict[str, Any]] = []
    for kind in ("det", "cls", "rec"):
        model = models[kind]
        if progress is not None:
            progress(f"{kind}: {model.name} v{model.version} on {backend}/{options.device}")
        runtime = load_runtime(backend, model.path, model.format, options)
        if kind == "rec":
            runtime.reduce_classes()  # as a slot asks (engine/slots.py): less to copy back
        try:
            batch_ms = _median_ms(runtime.run, shapes[kind], repeat)
        finally:
            runtime.close()
        item_ms = batch_ms / shapes[kind][0]
        gflop = model_gflop(model.path, model.format, shapes[kind])
        rows.append({"model": kind, "name": model.name, "version": model.version,
                     "backend": runtime.backend, "input": "x".join(map(str, shapes[kind])),
                     "batch_ms": batch_ms, "item_ms": item_ms,
                     "ms_per_image": item_ms * per_image[kind], "gflop": gflop,
                     "gflops": None if gflop is None else 1000 * gflop / batch_ms})
    image_ms = sum(r["ms_per_image"] for r in rows)
    dense = dense_gflops(options.cpu_threads) if options.device == "cpu" else None
    return {"model_set": model_set.name, "device": options.device, "repeat": repeat,
            "threads": options.cpu_threads,
            "workload": {"page": list(workload.page), "lines": workload.lines},
            "rows": rows, "ms_per_image": image_ms, "images_per_s": 1000 / image_ms,
            "dense_gflops": dense}


def _median_ms(run: Callable[[np.ndarray], np.ndarray], shape: tuple[int, ...],
               repeat: int) -> float:
    batch = np.random.default_rng(sum(shape)).uniform(-1, 1, shape).astype(np.float32)
    return median_ms(run, batch, repeat)


def ceiling_table(doc: dict[str, Any]) -> str:
    dense = doc.get("dense_gflops")
    lines = ["| model | backend | batch input | ms per batch | ms per item | ms per image | "
             "GFLOP per batch | GFLOPS |" + (" of the dense multiply |" if dense else ""),
             "|---|---|---|---|---|---|---|---|" + ("---|" if dense else "")]
    for r in doc["rows"]:
        gflop, gflops = r.get("gflop"), r.get("gflops")
        row = (f"| {r['model']} ({r['name']} v{r['version']}) | {r['backend']} | {r['input']} | "
               f"{r['batch_ms']:.2f} | {r['item_ms']:.3f} | {r['ms_per_image']:.2f} | "
               + ("– | – |" if gflop is None else f"{gflop:.2f} | {gflops:.0f} |"))
        if dense:
            row += " – |" if gflops is None else f" {gflops / dense:.0%} |"
        lines.append(row)
    work = doc["workload"]
    lines += ["", f"Ceiling on {doc['device']} ({doc['model_set']}, a {work['page'][1]}x"
              f"{work['page'][0]} page with {work['lines']} lines, one model at a time, median "
              f"of {doc['repeat']} warm calls): **{doc['images_per_s']:.1f} images/s** "
              f"({doc['ms_per_image']:.1f} ms per image)."]
    if dense:
        lines += ["", f"OpenVINO's own fp32 multiply of two {REFERENCE_SIDE}x{REFERENCE_SIDE} "
                  f"matrices on {doc['threads']} threads: {dense:.0f} GFLOPS, the most this "
                  "CPU gave a runtime in fp32 here."]
    return "\n".join(lines)
