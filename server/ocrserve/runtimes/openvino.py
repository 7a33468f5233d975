"""OpenVINO backend: ``model.onnx`` or Paddle's ``inference.pdmodel``, on the CPU.

OpenVINO reads both formats itself, so Paddle-format models are served without
paddlepaddle installed, and on the CPUs we measured it runs these models
1.3-2x faster than onnxruntime with outputs within 4e-6 of it
(docs/facts.md#runtime-quirks, BENCHMARKS.md).

Settings that decide results are pinned rather than left to the plugin:

* inference precision f32 (``precision=fp32``).  OpenVINO's CPU plugin would
  otherwise pick bf16 on CPUs that have it (AMX, AVX512_BF16), and results would
  stop being PaddleOCR's.  ``precision=fp16`` runs f16 where the CPU has it and is
  refused where it has not (:func:`check_precision`): the plugin would run bf16 or
  f32 instead.
* one thread pool of ``cpu_threads`` threads, not pinned to cores: the
  front-end processes share the cores, and a pinned pool fights them.

Like Paddle with MKLDNN, the CPU plugin prepares kernels for each new input
shape on its first run (+100-190 ms for det), so the runtime declares itself
shape-specialised and the engine warms every shape bucket at load.  The
per-shape state is bounded by ``shape_cache_size`` (OpenVINO's runtime cache).

``cpu_streams`` > 1 runs a batch as that many slices in parallel, each on its
own stream with ``cpu_threads / cpu_streams`` threads: the "several one-thread
inferences" alternative to one multi-thread inference.

Static shapes.  A model compiled for one fixed input shape gives the dynamic model's
output bit for bit and runs faster: the v2 detector at 1x3x544x960 took 19.5
against 24.4 ms, and the classifier's batch of 6 took 1.4 against 2.0 ms right
after a batch of another size (``ocr-bench runtimes``, BENCHMARKS.md); a compilation
costs 100-190 ms.  Fixing H and W but not the batch kept little of that in a one-off
check, so the shape is the whole NCHW shape, of one page: a batch of several pages
runs page by page on it (see :meth:`OpenVinoRuntime._static_shape`).  With
``static_shapes`` > 0, shapes that come back are compiled on their own, up to
``static_shapes`` of them, chosen by ``static_shapes.ShapeAdmission``: one-off shapes
(photos of any size) stay on the dynamic model and cost no compilation; video frames
and same-size scans run static from their second one.  Not with ``cpu_streams`` > 1
(each stream's slice has a shape of its own) nor for inputs over
:data:`STATIC_MAX_BYTES`, so ``static_shapes`` models take a bounded amount of memory
that the slot's load-time measure does not include.

Where only the batch size varies (the angle classifier: the engine's input range fixes
C, H and W), a batch is padded with zero items to the next power of two, at most the
largest batch, before it looks for its static model: six models serve every size up
to 32, and the added items change no other item's output, bit for bit.  The engine
gives recognizers no static models: with four of them the engine took 350-550 MiB
more and served no faster (``ocr-bench load``, BENCHMARKS.md).

The compiled model keeps the memory of the largest input it has run (4 pages at
limit_side_len 2048 left an engine at 2.2 GB), and only a new compilation gives it
back.  So a batch of items over ``SHRINK_ABOVE`` runs item by item, and after it the
runtime compiles the model again when the engine is idle (:meth:`release_memory`) and
runs its recent ordinary shapes once, so the next requests find them warm.

Not thread-safe: one infer request per stream, driven by one thread at a time.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

from ocrserve.errors import FailedPrecondition, ModelError
from ocrserve.runtimes.base import (
    Dims,
    RuntimeOptions,
    Shape,
    ShapeRange,
    as_output,
    check_batch,
    require_file,
)
from ocrserve.runtimes.static_shapes import ShapeAdmission

log = logging.getLogger(__name__)

#: The file OpenVINO reads for each model format the repository holds.
MODEL_FILES = {"onnx": "model.onnx", "paddle": "inference.pdmodel"}

_PRECISION = {"fp32": "f32", "fp16": "f16"}
_HINT = {"latency": "LATENCY", "throughput": "THROUGHPUT"}

#: Inputs with items larger than this make the idle runtime compile the model again,
#: to give back the memory they took.  Per item, because the memory follows the
#: largest item: a det input at the default limit_side_len 960 is 11 MB an image,
#: one at 2048 is 48 MB and left 400 MB behind.
SHRINK_ABOVE = 16 * 1024 * 1024
#: Shapes run again after such a compilation (the most recent ones).
REWARM_SHAPES = 4
#: Larger inputs of a static model's shape (a page, or a padded classifier batch) always
#: run on the dynamic model: a static model keeps the memory of its shape for good (with
#: two, the engine took 36-47 MiB more in ocr-bench memory).
STATIC_MAX_BYTES = 16 * 1024 * 1024


class _Compiled:
    """A compiled model and one infer request per stream; a batch runs as one slice
    per request (see the module docstring on streams)."""

    def __init__(self, compiled: Any, streams: int) -> None:
        self.compiled = compiled
        self.requests = [compiled.create_infer_request() for _ in range(streams)]

    def infer(self, batch: np.ndarray) -> np.ndarray:
        slices = np.array_split(batch, min(len(self.requests), len(batch)))
        try:
            for request, part in zip(self.requests, slices, strict=False):
                request.start_async({0: part})
            outputs = []
            for request, _ in zip(self.requests, slices, strict=False):
                request.wait()
                # The request reuses its output buffer on the next run: copy out.
                outputs.append(np.array(request.get_output_tensor(0).data, copy=True))
        except Exception as exc:  # OpenVINO raises bare RuntimeError
            raise ModelError(f"openvino inference failed on a {batch.shape} batch: {exc}") from exc
        return as_output(outputs[0] if len(outputs) == 1 else np.concatenate(outputs))

    def infer_each(self, batch: np.ndarray) -> np.ndarray:
        """The batch's output, run one item at a time."""
        return np.concatenate([self.infer(batch[i:i + 1]) for i in range(len(batch))])


class OpenVinoRuntime:
    """The dynamic model, and the static ones of shapes that came back."""

    backend = "openvino"
    shape_specialized = True  # first run at a new shape is slow: warm the buckets

    def __init__(self, compile_model: Callable[[Dims | None], Any], input_shape: Shape,
                 output_shape: Shape, streams: int, static_shapes: int = 0,
                 input_range: ShapeRange | None = None) -> None:
        """``compile_model(None)`` compiles the dynamic model, ``compile_model(shape)``
        one for that input shape only.  ``input_range``: the shapes the engine sends."""
        self.input_shape = input_shape
        self.output_shape = output_shape
        self._compile_model = compile_model
        self._streams = streams
        self._dynamic: _Compiled | None = None
        self._compile()
        self._recent: OrderedDict[Dims, None] = OrderedDict()
        self._oversized = False
        self._admission: ShapeAdmission[Dims] = ShapeAdmission(
            static_shapes if streams == 1 else 0)
        #: kept shapes -> their model (None: its compilation failed; the dynamic one runs it)
        self._static: dict[Dims, _Compiled | None] = {}
        #: When only the batch size varies (the angle classifier), batches are padded
        #: to powers of two up to the largest, so that a few static models serve them all.
        self._max_batch = (input_range.max[0] if input_range is not None
                           and input_range.min[1:] == input_range.max[1:] else None)

    def _compile(self) -> None:
        self._dynamic = None  # the old model's memory goes before the new one is built
        self._dynamic = _Compiled(self._compile_model(None), self._streams)

    def run(self, batch: np.ndarray) -> np.ndarray:
        if self._dynamic is None:
            raise FailedPrecondition("openvino runtime is closed")
        batch = check_batch(batch, self.input_shape)
        if batch.nbytes // len(batch) > SHRINK_ABOVE:
            # One item at a time: the memory of a batch of them is the sum of theirs
            # (three 2048x2048 pages: 1876 against 631 MiB, tests/integration/
            # test_runtimes.py).
            self._oversized = True
            return self._dynamic.infer_each(batch)
        self._recent[batch.shape] = None
        self._recent.move_to_end(batch.shape)
        while len(self._recent) > REWARM_SHAPES:
            self._recent.popitem(last=False)
        shape = self._static_shape(batch.shape)
        if math.prod(shape) * batch.itemsize > STATIC_MAX_BYTES:
            return self._dynamic.infer(batch)
        static = self._static_model(shape)
        if static is None:
            return self._dynamic.infer(batch)
        if shape == batch.shape:
            return static.infer(batch)
        if shape[0] == 1:
            return static.infer_each(batch)
        padded = np.zeros(shape, np.float32)
        padded[:len(batch)] = batch
        return static.infer(padded)[:len(batch)]

    def _static_shape(self, shape: Dims) -> Dims:
        """The shape a static model would run ``shape`` at.  Where only the batch size
        varies (the classifier), the batch padded to a power of two (at most the
        largest batch).  Zero items added to a batch leave the others' outputs as they
        were, bit for bit (tests/integration/test_runtimes.py).  Elsewhere (the
        detector) one item: a batch of several runs item by item.  Those batches are
        of one page size (the batcher groups by shape); on the dynamic model they took
        longer per page and kept more memory than their pages one by one on the static
        model (720p frames at concurrency 8: 38 against 34 ms of detector per frame,
        the engine 935 against 683 MiB; "Detector batches page by page" in
        BENCHMARKS.md), and a static model per batch size would take the memory of
        one per size."""
        if self._max_batch is None:
            return (1, *shape[1:])
        size = max(shape[0], min(1 << (shape[0] - 1).bit_length(), self._max_batch))
        return (size, *shape[1:])

    def _static_model(self, shape: Dims) -> _Compiled | None:
        """The model compiled for ``shape`` alone when it is one to keep (compiled now
        if it has none yet); None: the dynamic model runs it."""
        admission = self._admission.see(shape)
        if admission.drop is not None:
            del self._static[admission.drop]
        if not admission.keep:
            return None
        if shape not in self._static:
            try:
                self._static[shape] = _Compiled(self._compile_model(shape), 1)
            except ModelError as exc:  # a speed-up lost, not a request
                log.warning("%s; running that shape on the dynamic model", exc)
                self._static[shape] = None
        return self._static[shape]

    @property
    def static_shapes(self) -> list[Dims]:
        """The shapes that have a model of their own."""
        return [shape for shape, model in self._static.items() if model is not None]

    def accept_images(self, tables: np.ndarray) -> bool:
        return False  # takes host arrays: the engine normalises them first (cv2.LUT)

    def reduce_classes(self) -> bool:
        # A TopK in the graph gave the same bits and no measurable gain on the CPU (a
        # one-off check): the host's copy and reduction are small beside the model.
        return False

    def release_memory(self) -> None:
        """After an oversized input, compile again and rewarm the recent shapes (see the
        module docstring); otherwise nothing holds memory beyond the model's needs."""
        if self._dynamic is None or not self._oversized:
            return
        self._oversized = False
        self._compile()
        for shape in self._recent:
            if self._static_shape(shape) not in self._static:  # else its static model runs it
                self._dynamic.infer(np.zeros(shape, np.float32))

    def close(self) -> None:
        # OpenVINO frees a compiled model when its last reference (and its requests') goes.
        self._dynamic = None
        self._static.clear()
        self._admission.forget()


def load(model_dir: Path, model_format: str, options: RuntimeOptions) -> OpenVinoRuntime:
    """Read ``model_dir``'s ONNX or Paddle model and compile it for the CPU."""
    if model_format not in MODEL_FILES:
        raise ModelError(f"the openvino backend runs onnx or paddle models, not {model_format!r}")
    if options.gpu_id is not None:
        raise ModelError(
            f"the openvino backend runs on the CPU only, not {options.device}; use "
            "onnxruntime or paddle on a GPU"
        )
    model_file = require_file(model_dir / MODEL_FILES[model_format])
    core = ov.Core()
    try:
        model = core.read_model(str(model_file))
    except Exception as exc:
        raise ModelError(f"openvino could not read {model_file.name}") from exc
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelError(f"{model_file} must have exactly one input and one output")
    config = compile_config(options)

    def compile_model(shape: Dims | None) -> Any:
        target = model
        if shape is not None:
            target = model.clone()
            target.reshape(list(shape))
        try:
            compiled = core.compile_model(target, "CPU", config)
        except Exception as exc:
            raise ModelError(f"openvino could not compile {model_file.name}"
                             f"{'' if shape is None else f' for {shape}'}") from exc
        check_precision(compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name(),
                        options.precision)
        return compiled

    return OpenVinoRuntime(compile_model, _shape(model.input(0)), _shape(model.output(0)),
                           options.cpu_streams, options.static_shapes, options.input_range)


def check_precision(runs: str, precision: str) -> None:
    """Refuse a model that would run at another precision than the one asked for: the
    CPU plugin takes ``f16`` as a hint and, on a CPU without f16 arithmetic, runs bf16
    (AVX512_BF16, AMX) or f32 instead.  bf16 is not a faster fp16: on a Zen 5 CPU it
    ran the v2 pipeline 1.1x faster with 178 of 216 lines unchanged (BENCHMARKS.md)."""
    wanted = _PRECISION[precision]
    if runs != wanted:
        raise ModelError(f"precision={precision}: this CPU runs the model in {runs}, not "
                         f"{wanted} (it has no {wanted} arithmetic); use precision=fp32")


def compile_config(options: RuntimeOptions) -> dict[str, str]:
    """The CPU plugin's properties for ``options`` (pure, so it is testable)."""
    return {
        "INFERENCE_PRECISION_HINT": _PRECISION[options.precision],
        "PERFORMANCE_HINT": _HINT[options.performance_hint],
        "NUM_STREAMS": str(options.cpu_streams),
        "INFERENCE_NUM_THREADS": str(options.cpu_threads),
        "ENABLE_CPU_PINNING": "NO",
        "CPU_RUNTIME_CACHE_CAPACITY": str(options.shape_cache_size),
    }


def _shape(port: Any) -> Shape:
    """A port's partial shape with None for its dynamic dimensions."""
    return tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
