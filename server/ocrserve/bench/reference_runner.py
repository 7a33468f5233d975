"""Run PaddleOCR's own pipeline (paddleocr 2.8.1) on images and write its results as JSON.

This is the yardstick for fidelity and speed.  It runs under the *reference* venv
(``.venv-ref/bin/python path/to/reference_runner.py ...``), which has paddleocr, paddlepaddle,
rapidocr_onnxruntime and onnxruntime but not ocrserve, so it imports nothing from ocrserve
and is run by path.

``--pipeline rapidocr`` runs RapidOCR 1.4.4 (``rapidocr_onnxruntime``, ONNX models only,
``--use-onnx`` required, ``ocr`` mode only) instead, as a second speed peer: same models,
same dictionary and PaddleOCR's parameters (see :func:`build_rapidocr`), same timing and
the same JSON.

Modes mirror the flag combinations of ``PaddleOCR.ocr``; each calls the same component
``ocr()`` would, directly, so that per-stage times can be reported:

- ``ocr``: ``TextSystem.__call__(img, cls=True)``, i.e. ``ocr(img)`` (det → cls → rec, lines
  below drop_score 0.5 removed, sorted top-to-bottom).  Lines: box, text, score.
- ``det``: ``text_detector(img)``, i.e. ``ocr(img, rec=False, cls=False)``.  Lines: box.
- ``cls``: ``text_classifier([crop])``, i.e. ``ocr(crop, det=False, rec=False)`` without the
  recognition pass ``ocr()`` runs and throws away.  Lines: one ``{label, score}`` per crop.
- ``rec``: ``text_recognizer([crop])``, i.e. ``ocr(crop, det=False, cls=False)``.
  Lines: one ``{text, score}`` per crop.

Every input is one call (crops are not batched together).  Timing: models load first
(``load_seconds``), then ``--warmup`` untimed passes over all inputs (Paddle's MKLDNN pays
2–7× on the first call at each input shape), then ``--repeat`` timed passes; each image
reports the median of its timed calls.  Nothing is downloaded: missing model files are an
error before PaddleOCR is constructed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

Record = dict[str, Any]
# (engine, BGR image) -> (lines, seconds per stage as PaddleOCR measured them)
Runner = Callable[[Any, Any], tuple[list[Record], dict[str, float]]]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run PaddleOCR 2.8.1 (or RapidOCR 1.4.4) on images, write JSON.")
    parser.add_argument("--pipeline", choices=sorted(PIPELINES), default="paddleocr")
    parser.add_argument("--det", type=Path, required=True, help="det model folder")
    parser.add_argument("--rec", type=Path, required=True, help="rec model folder")
    parser.add_argument("--cls", type=Path, required=True, help="cls model folder")
    parser.add_argument("--rec-char-dict", type=Path, required=True)
    parser.add_argument("--rec-image-shape", default="3, 48, 320",
                        help='"3, 32, 320" for v2-era rec models, "3, 48, 320" for v3/v4')
    parser.add_argument("--use-onnx", action="store_true",
                        help="model folders hold model.onnx instead of inference.pd*")
    parser.add_argument("--mode", choices=sorted(RUNNERS), default="ocr")
    parser.add_argument("--images", type=Path, nargs="+", required=True)
    parser.add_argument("--output", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--repeat", type=int, default=1, help="timed passes over all inputs")
    parser.add_argument("--warmup", type=int, default=1, help="untimed passes before timing")
    parser.add_argument("--cpu-threads", type=int, default=2)
    return parser.parse_args(argv)


def model_location(model_dir: Path, use_onnx: bool) -> str:
    """The path PaddleOCR wants for a local model, once its files are known to be there.

    With ``use_onnx`` PaddleOCR 2.8.1 opens ``*_model_dir`` itself as the .onnx file
    (``tools/infer/utility.create_predictor``); otherwise it downloads the default model
    unless ``inference.pdmodel`` and ``inference.pdiparams`` are both in the folder.
    """
    if use_onnx:
        onnx = model_dir if model_dir.suffix == ".onnx" else model_dir / "model.onnx"
        required, location = [onnx], onnx
    else:
        required = [model_dir / "inference.pdmodel", model_dir / "inference.pdiparams"]
        location = model_dir
    missing = [str(path) for path in required if not path.is_file()]
    if missing:
        raise SystemExit(f"reference_runner: missing model files: {', '.join(missing)}")
    return str(location)


def parse_shape(text: str) -> list[int]:
    return [int(part) for part in text.split(",")]


def build_engine(args: argparse.Namespace) -> Any:
    """Construct ``PaddleOCR`` from local files only.

    PaddleOCR 2.8.1 overwrites ``rec_image_shape`` from ``ocr_version`` (48 high for v3/v4,
    32 otherwise), so the version is chosen from the requested height and the result checked.
    """
    if args.use_onnx:
        import onnxruntime

        # PaddleOCR's sessions keep the models' declared output shapes, so every call at
        # another size logs a shape-mismatch warning; errors still show.
        onnxruntime.set_default_logger_severity(3)
    shape = parse_shape(args.rec_image_shape)
    engine = _paddleocr().PaddleOCR(
        det_model_dir=model_location(args.det, args.use_onnx),
        rec_model_dir=model_location(args.rec, args.use_onnx),
        cls_model_dir=model_location(args.cls, args.use_onnx),
        rec_char_dict_path=str(args.rec_char_dict),
        rec_image_shape=args.rec_image_shape,
        ocr_version="PP-OCRv2" if shape[1] == 32 else "PP-OCRv4",
        use_onnx=args.use_onnx,
        use_angle_cls=True,
        use_gpu=False,
        show_log=False,
        cpu_threads=args.cpu_threads,
        enable_mkldnn=True,
    )
    if list(engine.text_recognizer.rec_image_shape) != shape:
        raise SystemExit(f"reference_runner: PaddleOCR {version()} cannot use rec image shape "
                         f"{shape}, it chose {engine.text_recognizer.rec_image_shape}")
    return engine


def build_rapidocr(args: argparse.Namespace) -> Any:
    """Construct ``RapidOCR`` (rapidocr_onnxruntime 1.4.4) with PaddleOCR 2.8.1's parameters.

    Its config keys (``rapidocr_onnxruntime/config.yaml``, set through constructor kwargs)
    take PaddleOCR's defaults: det limit 960/max, thresh 0.3, box_thresh 0.6, unclip 1.5,
    no dilation, fast score, ImageNet mean/std; cls thresh 0.9, batch 6; rec batch 6 at
    the rec image shape; drop (text_score) 0.5; the given dictionary.  RapidOCR's own
    extras that PaddleOCR does not have are off: shrinking inputs above 2000 px, enlarging
    below 30 px, letterboxing short or wide images.  ``intra_op_num_threads`` is
    ``--cpu-threads`` for every session.  With ``limit_type`` max RapidOCR 1.4.4 ignores
    ``limit_side_len`` (it picks 960/1500/2000 by image size), so its detector is given
    PaddleOCR's resize rule.
    """
    if not args.use_onnx:
        raise SystemExit("reference_runner: --pipeline rapidocr runs ONNX models: give --use-onnx")
    if args.mode != "ocr":
        raise SystemExit("reference_runner: --pipeline rapidocr has the ocr mode only")
    from rapidocr_onnxruntime import RapidOCR  # type: ignore[import-not-found]
    from rapidocr_onnxruntime.ch_ppocr_det.utils import (  # type: ignore[import-not-found]
        DetPreProcess,
    )

    engine = RapidOCR(
        text_score=0.5,
        min_height=0,  # h <= min_height letterboxes
        width_height_ratio=-1,  # -1: no letterbox for wide images
        max_side_len=1 << 30,
        min_side_len=0,
        intra_op_num_threads=args.cpu_threads,
        det_model_path=model_location(args.det, True),
        det_limit_side_len=960,
        det_limit_type="max",
        det_mean=[0.485, 0.456, 0.406],
        det_std=[0.229, 0.224, 0.225],
        det_thresh=0.3,
        det_box_thresh=0.6,
        det_max_candidates=1000,
        det_unclip_ratio=1.5,
        det_use_dilation=False,
        det_score_mode="fast",
        cls_model_path=model_location(args.cls, True),
        cls_image_shape=[3, 48, 192],
        cls_batch_num=6,
        cls_thresh=0.9,
        rec_model_path=model_location(args.rec, True),
        rec_keys_path=str(args.rec_char_dict),
        rec_img_shape=parse_shape(args.rec_image_shape),
        rec_batch_num=6,
    )
    det = engine.text_det
    det.get_preprocess = lambda _max_wh: DetPreProcess(
        det.limit_side_len, det.limit_type, det.mean, det.std)
    return engine


def rapidocr_version() -> str:
    return importlib.metadata.version("rapidocr_onnxruntime")


def _paddleocr() -> Any:
    """The paddleocr package, imported late so that this file imports anywhere.

    zlib must be loaded before paddle 2.6.2: otherwise pyclipper 1.4 (which paddleocr
    imports after paddle) fails with "zlib.error: Error -2 ... inconsistent stream state".
    """
    import zlib  # noqa: F401

    import paddleocr  # type: ignore[import-not-found]

    _skip_passes_this_cpu_cannot_run()
    return paddleocr


#: Paddle 2.6.2's IR pass for the PP-OCRv4 recognizer's SVTR attention executes AVX-512
#: instructions whatever the CPU: without AVX-512F (the 2-core AMD EPYC build machines,
#: AVX2 only) building that predictor dies with SIGILL, MKLDNN on or off (seen
#: 2026-12-03).  Paddle 3.3 (the server's) does not.  Dropping the pass leaves the same
#: operators unfused.
_AVX512_ONLY_PASSES = ("self_attention_fuse_pass",)


def _skip_passes_this_cpu_cannot_run() -> None:
    """Make PaddleOCR's ``create_predictor`` delete those passes on a CPU without AVX-512F.

    PaddleOCR calls ``paddle.inference.create_predictor(config)`` through the module, so
    wrapping that one function reaches every predictor it builds; nothing else changes.
    """
    try:
        if " avx512f" in Path("/proc/cpuinfo").read_text():
            return
    except OSError:
        return  # not Linux: nothing known to avoid
    inference: Any = importlib.import_module("paddle.inference")  # Any: patched below

    create = inference.create_predictor
    if getattr(create, "skips_avx512_passes", False):
        return

    def create_predictor(config: Any) -> Any:
        for name in _AVX512_ONLY_PASSES:
            config.delete_pass(name)
        return create(config)

    create_predictor.skips_avx512_passes = True  # type: ignore[attr-defined]
    inference.create_predictor = create_predictor


def version() -> str:
    return str(_paddleocr().__version__)


def load_image(path: Path) -> Any:
    """Decode as ``PaddleOCR.ocr`` does for a file path (gray → BGR, alpha → white)."""
    image, _, _ = _paddleocr().paddleocr.check_img(str(path))
    if image is None:
        raise SystemExit(f"reference_runner: cannot decode {path}")
    return image


def run_ocr(engine: Any, image: Any) -> tuple[list[Record], dict[str, float]]:
    boxes, results, stages = engine(image, cls=True)
    lines = [{"box": box.tolist(), "text": text, "score": float(score)}
             for box, (text, score) in zip(boxes or [], results or [], strict=True)]
    return lines, {stage: float(stages[stage]) for stage in ("det", "cls", "rec")}


def run_det(engine: Any, image: Any) -> tuple[list[Record], dict[str, float]]:
    boxes, seconds = engine.text_detector(image)
    return [{"box": box.tolist()} for box in boxes], {"det": float(seconds)}


def run_cls(engine: Any, image: Any) -> tuple[list[Record], dict[str, float]]:
    _, results, seconds = engine.text_classifier([image])
    return [{"label": label, "score": float(score)} for label, score in results], {
        "cls": float(seconds)}


def run_rec(engine: Any, image: Any) -> tuple[list[Record], dict[str, float]]:
    results, seconds = engine.text_recognizer([image])
    return [{"text": text, "score": float(score)} for text, score in results], {
        "rec": float(seconds)}


def run_rapidocr(engine: Any, image: Any) -> tuple[list[Record], dict[str, float]]:
    """``RapidOCR.__call__(img)`` with no per-call options (they would reset the detector's
    thresholds to RapidOCR's defaults); lines below text_score are already dropped."""
    result, elapse = engine(image)
    lines = [{"box": [[float(x), float(y)] for x, y in box], "text": text,
              "score": float(score)} for box, text, score, *_ in result or []]
    seconds = elapse if elapse and len(elapse) == 3 else [0.0, 0.0, 0.0]
    return lines, {stage: float(t) for stage, t in zip(("det", "cls", "rec"), seconds,
                                                        strict=True)}


RUNNERS: dict[str, Runner] = {"ocr": run_ocr, "det": run_det, "cls": run_cls, "rec": run_rec}


class Pipeline(NamedTuple):
    build: Callable[[argparse.Namespace], Any]
    version: Callable[[], str]
    load_image: Callable[[Any, Path], Any]  # (engine, path) -> BGR image
    runners: dict[str, Runner]


def load_rapidocr_image(engine: Any, path: Path) -> Any:
    """Decode as ``RapidOCR.__call__`` does for a file path (its own loader, BGR)."""
    return engine.load_img(str(path))


#: --pipeline -> how it is built, versioned, fed and run
PIPELINES: dict[str, Pipeline] = {
    "paddleocr": Pipeline(build_engine, version, lambda _engine, path: load_image(path),
                          RUNNERS),
    "rapidocr": Pipeline(build_rapidocr, rapidocr_version, load_rapidocr_image,
                         {"ocr": run_rapidocr}),
}


def measure(run: Runner, engine: Any, images: dict[Path, Any], warmup: int,
            repeat: int) -> list[Record]:
    """Warm-up passes, then timed passes over all inputs; one record per input.

    Passes go over the whole set in turn (not one input N times in a row), so shape caches
    see the same mix a server would.
    """
    for _ in range(warmup):
        for image in images.values():
            run(engine, image)
    calls: dict[Path, list[tuple[float, list[Record], dict[str, float]]]] = {
        path: [] for path in images}
    for _ in range(max(1, repeat)):
        for path, image in images.items():
            start = time.perf_counter()
            lines, stages = run(engine, image)
            calls[path].append((time.perf_counter() - start, lines, stages))
    return [summarize(path, runs) for path, runs in calls.items()]


def summarize(path: Path, runs: list[tuple[float, list[Record], dict[str, float]]]) -> Record:
    """Median wall time and per-stage times of one input; lines from its last call."""
    stages = runs[-1][2].keys()
    return {
        "path": str(path),
        "lines": runs[-1][1],
        "seconds": statistics.median(seconds for seconds, _, _ in runs),
        "stage_seconds": {s: statistics.median(run[2][s] for run in runs) for s in stages},
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pipeline = PIPELINES[args.pipeline]
    started = time.perf_counter()
    engine = pipeline.build(args)
    load_seconds = time.perf_counter() - started
    images = {path: pipeline.load_image(engine, path) for path in args.images}
    results = measure(pipeline.runners[args.mode], engine, images, args.warmup, args.repeat)
    stage_names = results[0]["stage_seconds"].keys() if results else ()
    report = {
        "pipeline": args.pipeline,
        "version": pipeline.version(),
        **({"paddleocr": version()} if args.pipeline == "paddleocr" else {}),
        "mode": args.mode,
        "use_onnx": args.use_onnx,
        "rec_image_shape": parse_shape(args.rec_image_shape),
        "warmup": args.warmup,
        "repeat": args.repeat,
        "load_seconds": load_seconds,
        "images": results,
        "total_seconds": sum(r["seconds"] for r in results),
        "stage_seconds": {s: sum(r["stage_seconds"][s] for r in results) for s in stage_names},
    }
    args.output.write_text(json.dumps(report, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
