"""OpenVINO backend: ``model.onnx`` or Paddle's ``inference.pdmodel``, on the CPU.

OpenVINO reads both formats itself, so Paddle-format models are served without
paddlepaddle installed, and on the CPUs we measured it runs these models
1.3-2x faster than onnxruntime with outputs within 4e-6 of it
(docs/facts.md#runtime-quirks, BENCHMARKS.md).

Settings that decide results are pinned rather than left to the plugin:

* inference precision f32 (``precision=fp32``).  OpenVINO's CPU plugin would
  otherwise pick bf16 on CPUs that have it (AMX, AVX512_BF16), and results would
  stop being PaddleOCR's.  ``precision=fp16`` asks for f16 where the CPU has it.
* one thread pool of ``cpu_threads`` threads, not pinned to cores: the
  front-end processes share the cores, and a pinned pool fights them.

Like Paddle with MKLDNN, the CPU plugin prepares kernels for each new input
shape on its first run (+100-190 ms for det), so the runtime declares itself
shape-specialised and the engine warms every shape bucket at load.  The
per-shape state is bounded by ``shape_cache_size`` (OpenVINO's runtime cache).

``cpu_streams`` > 1 runs a batch as that many slices in parallel, each on its
own stream with ``cpu_threads / cpu_streams`` threads: the "several one-thread
inferences" alternative to one multi-thread inference.

The compiled model keeps the memory of the largest input it has run (4 pages at
limit_side_len 2048 left an engine at 2.2 GB), and only a new compilation gives it
back.  So after an input with items over ``SHRINK_ABOVE`` the runtime compiles the
model again when the engine is idle (:meth:`release_memory`) and runs its recent
ordinary shapes once, so the next requests find them warm.

Not thread-safe: one infer request per stream, driven by one thread at a time.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

from ocrserve.errors import FailedPrecondition, ModelError
from ocrserve.runtimes.base import (
    RuntimeOptions,
    Shape,
    as_output,
    check_batch,
    require_file,
)

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


class OpenVinoRuntime:
    """One compiled model with an infer request per stream."""

    backend = "openvino"
    shape_specialized = True  # first run at a new shape is slow: warm the buckets

    def __init__(self, compile_model: Callable[[], Any], input_shape: Shape,
                 output_shape: Shape, streams: int) -> None:
        self.input_shape = input_shape
        self.output_shape = output_shape
        self._compile_model = compile_model
        self._streams = streams
        self._compiled: Any = None
        self._requests: list[Any] = []
        self._compile()
        self._recent: OrderedDict[tuple[int, ...], None] = OrderedDict()
        self._oversized = False

    def _compile(self) -> None:
        self._requests = []
        self._compiled = None  # the old model's memory goes before the new one is built
        self._compiled = self._compile_model()
        self._requests = [self._compiled.create_infer_request() for _ in range(self._streams)]

    def run(self, batch: np.ndarray) -> np.ndarray:
        if self._compiled is None:
            raise FailedPrecondition("openvino runtime is closed")
        batch = check_batch(batch, self.input_shape)
        if batch.nbytes // len(batch) > SHRINK_ABOVE:
            self._oversized = True
        else:
            self._recent[batch.shape] = None
            self._recent.move_to_end(batch.shape)
            while len(self._recent) > REWARM_SHAPES:
                self._recent.popitem(last=False)
        return self._infer(batch)

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        slices = np.array_split(batch, min(len(self._requests), len(batch)))
        try:
            for request, part in zip(self._requests, slices, strict=False):
                request.start_async({0: part})
            outputs = []
            for request, _ in zip(self._requests, slices, strict=False):
                request.wait()
                # The request reuses its output buffer on the next run: copy out.
                outputs.append(np.array(request.get_output_tensor(0).data, copy=True))
        except Exception as exc:  # OpenVINO raises bare RuntimeError
            raise ModelError(f"openvino inference failed on a {batch.shape} batch: {exc}") from exc
        return as_output(outputs[0] if len(outputs) == 1 else np.concatenate(outputs))

    def accept_images(self, tables: np.ndarray) -> bool:
        return False  # takes host arrays: the engine normalises them first (cv2.LUT)

    def release_memory(self) -> None:
        """After an oversized input, compile again and rewarm the recent shapes (see the
        module docstring); otherwise nothing holds memory beyond the model's needs."""
        if self._compiled is None or not self._oversized:
            return
        self._oversized = False
        self._compile()
        for shape in self._recent:
            self._infer(np.zeros(shape, np.float32))

    def close(self) -> None:
        # OpenVINO frees a compiled model when its last reference (and its requests') goes.
        self._compiled = None
        self._requests = []


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
        raise ModelError(f"openvino could not read {model_file}: {exc}") from exc
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelError(f"{model_file} must have exactly one input and one output")
    config = compile_config(options)

    def compile_model() -> Any:
        try:
            return core.compile_model(model, "CPU", config)
        except Exception as exc:
            raise ModelError(f"openvino could not compile {model_file}: {exc}") from exc

    return OpenVinoRuntime(compile_model, _shape(model.input(0)), _shape(model.output(0)),
                           options.cpu_streams)


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
