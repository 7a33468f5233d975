"""onnxruntime backend for ``model_dir/model.onnx``.

Provider choice follows ``options.device``:

* ``cpu``: CPUExecutionProvider with ``cpu_threads`` intra-op threads and one
  inter-op thread (the det/cls/rec graphs are a single chain: parallel
  branches would only oversubscribe the cores the engine's other slots use).
* ``cuda:N``: TensorRT (when ``use_tensorrt`` and installed), then CUDA, then
  CPU for the odd unsupported node.  A CUDA request on an onnxruntime without
  the CUDA provider raises :class:`ModelError` instead of quietly running on
  the CPU: an operator who asked for a GPU must learn that they did not get
  one at startup, not from latency graphs.  A missing TensorRT provider is
  only a warning, since CUDA still serves the request on the GPU.

``precision`` fp16 reaches TensorRT only; plain CUDA runs the graph as stored.
TensorRT gets one explicit profile, the range of shapes the engine can send
(``options.input_range``): without one it rebuilds its engine, minutes on a
GPU, whenever a batch falls outside the shapes seen so far.  Built engines are
kept in ``tensorrt_cache_dir`` when one is set.
onnxruntime's ``InferenceSession.run`` is thread-safe, but the engine still
drives one runtime per thread, like every backend.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from ocrserve.errors import FailedPrecondition, ModelError
from ocrserve.runtimes.base import (
    RuntimeOptions,
    Shape,
    ShapeRange,
    as_output,
    check_batch,
    declared_shape,
    require_file,
    require_format,
)

log = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"

Provider = tuple[str, dict[str, Any]]

#: onnxruntime's CPU arena keeps the peak of every shape it has run: one 4x2048x2048
#: detection batch left an engine at 2.9 GB for good.  Runs with inputs larger than
#: this (the usual batches are 1-45 MB) shrink the arena back when they end, so memory
#: comes back after a burst of large inputs while ordinary runs keep the arena's speed.
ARENA_SHRINK_ABOVE = 64 * 1024 * 1024


class OnnxRuntime:
    """One ``InferenceSession`` with a single input and a single output."""

    backend = "onnxruntime"
    shape_specialized = False  # no per-shape first-run penalty (docs/facts.md#runtime-quirks)

    def __init__(self, session: ort.InferenceSession) -> None:
        self._shrink = ort.RunOptions()
        # Give the arena's unused memory back after this run (see ARENA_SHRINK_ABOVE).
        self._shrink.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        self._smallest: np.ndarray | None = None  # the smallest input run so far
        (model_input,) = session.get_inputs()
        (model_output,) = session.get_outputs()
        self.input_shape: Shape = declared_shape(model_input.shape)
        self.output_shape: Shape = declared_shape(model_output.shape)
        self._session: ort.InferenceSession | None = session
        self._input_name: str = model_input.name
        self._output_names = [model_output.name]

    def run(self, batch: np.ndarray) -> np.ndarray:
        if self._session is None:
            raise FailedPrecondition("onnxruntime runtime is closed")
        batch = check_batch(batch, self.input_shape)
        options = self._shrink if batch.nbytes > ARENA_SHRINK_ABOVE else None
        if self._smallest is None or batch.nbytes < self._smallest.nbytes:
            self._smallest = np.zeros_like(batch)
        try:
            (output,) = self._session.run(self._output_names, {self._input_name: batch},
                                          options)
        except Exception as exc:  # onnxruntime's pybind errors share no public base
            raise ModelError(
                f"onnxruntime inference failed on a {batch.shape} batch: {exc}"
            ) from exc
        return as_output(output)

    def accept_images(self, tables: np.ndarray) -> bool:
        return False  # takes host arrays: the engine normalises them first (cv2.LUT)

    def reduce_classes(self) -> bool:
        return False  # the whole output; the engine reduces it on the host

    def release_memory(self) -> None:
        """Shrink the arena to what a run needs.  onnxruntime shrinks only at the end
        of a run, so the smallest input seen is run once more, with that option."""
        if self._session is not None and self._smallest is not None:
            self._session.run(self._output_names, {self._input_name: self._smallest},
                              self._shrink)

    def close(self) -> None:
        # onnxruntime frees a session when its last reference goes.
        self._session = None


def load(model_dir: Path, model_format: str, options: RuntimeOptions) -> OnnxRuntime:
    """Load ``model_dir/model.onnx`` on the providers ``options.device`` asks for."""
    require_format("onnxruntime", model_format, "onnx")
    model_file = require_file(model_dir / MODEL_FILE)
    available = ort.get_available_providers()
    # The name costs a second load of the file: only when TensorRT will build an engine.
    wants_trt = options.use_tensorrt and options.gpu_id is not None and TENSORRT in available
    input_name = _input_name(model_file) if wants_trt else None
    providers = select_providers(options, available, input_name)
    try:
        session = ort.InferenceSession(
            str(model_file), sess_options=_session_options(options), providers=providers
        )
    except Exception as exc:
        raise ModelError(f"onnxruntime could not load {model_file.name}") from exc
    _check_providers(session, options, model_file)
    try:
        return OnnxRuntime(session)
    except ValueError as exc:  # the unpacking of inputs/outputs
        raise ModelError(f"{model_file} must have exactly one input and one output") from exc


def select_providers(options: RuntimeOptions, available: list[str],
                     input_name: str | None = None) -> list[Provider]:
    """The execution providers for ``options``, best first, from ``available``.

    ``input_name`` names the model's input in TensorRT's shape profile.  Pure so
    that the GPU choice is testable on a CPU-only machine.
    """
    gpu_id = options.gpu_id
    if gpu_id is None:
        return [(CPU, {})]
    if CUDA not in available:
        raise ModelError(
            f"device {options.device} requested but this onnxruntime has no {CUDA} "
            f"(available: {', '.join(available)}); install onnxruntime-gpu"
        )
    providers: list[Provider] = []
    if options.use_tensorrt:
        if TENSORRT in available:
            providers.append((TENSORRT, tensorrt_options(options, gpu_id, input_name)))
        else:
            log.warning("%s not available; running on CUDA without TensorRT", TENSORRT)
    providers.append((CUDA, {"device_id": gpu_id}))
    providers.append((CPU, {}))
    return providers


def tensorrt_options(options: RuntimeOptions, gpu_id: int,
                     input_name: str | None) -> dict[str, Any]:
    """TensorRT's provider options: device, precision, its profile and engine cache."""
    trt: dict[str, Any] = {"device_id": gpu_id, "trt_fp16_enable": options.precision == "fp16"}
    if options.input_range is not None and input_name is not None:
        trt.update(trt_profile(input_name, options.input_range))
    if options.tensorrt_cache_dir:
        trt.update(trt_engine_cache_enable=True, trt_engine_cache_path=options.tensorrt_cache_dir)
    return trt


def trt_profile(input_name: str, shapes: ShapeRange) -> dict[str, str]:
    """One explicit TensorRT profile in onnxruntime's syntax (``name:1x3x32x32``)."""
    def spec(dims: tuple[int, ...]) -> str:
        return f"{input_name}:{'x'.join(map(str, dims))}"

    return {"trt_profile_min_shapes": spec(shapes.min), "trt_profile_opt_shapes": spec(shapes.opt),
            "trt_profile_max_shapes": spec(shapes.max)}


def _input_name(model_file: Path) -> str | None:
    """The model's input name, from a bare CPU session (TensorRT's profile needs it
    before the real session exists); None when the file does not load, which the
    real session then reports."""
    session_options = ort.SessionOptions()
    session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session_options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(model_file), sess_options=session_options,
                                       providers=[CPU])
    except Exception:
        return None
    name: str = session.get_inputs()[0].name
    return name


def _session_options(options: RuntimeOptions) -> ort.SessionOptions:
    session_options = ort.SessionOptions()
    session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session_options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session_options.intra_op_num_threads = options.cpu_threads
    session_options.inter_op_num_threads = 1
    # No spin-waiting between ops: the server's front-ends share the cores with
    # the engine, and spinning threads took their CPU (c=8 throughput on 2
    # cores: 4.3 -> 5.7 images/s; see BENCHMARKS.md).
    session_options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # Errors only: the v2 exports declare stale output sizes (det 960x960, rec
    # 25 steps) and onnxruntime warns about that on every run.  The one
    # warning that matters, a dropped GPU provider, _check_providers turns
    # into an error.
    session_options.log_severity_level = 3
    return session_options


def _check_providers(session: ort.InferenceSession, options: RuntimeOptions, path: Path) -> None:
    """onnxruntime drops a provider whose libraries fail to load (e.g. no
    cuDNN) with only a log line; refuse to serve on the CPU in that case."""
    active = session.get_providers()
    if options.gpu_id is not None and CUDA not in active:
        raise ModelError(
            f"onnxruntime could not start {CUDA} for {path} (active providers: "
            f"{', '.join(active)}); check the CUDA/cuDNN libraries"
        )
