"""Paddle Inference backend (``paddlepaddle`` or ``paddlepaddle-gpu``, 2.6 or 3.x).

Loads the old-format program ``inference.pdmodel`` + ``inference.pdiparams``
with the CPU settings PaddleOCR 2.8's ``tools/infer/utility.py`` uses, plus
two deliberate differences: the thread count applies with or without MKLDNN
(PaddleOCR only sets it inside its MKLDNN branch), and the new IR is forced
off when MKLDNN is on, because on Paddle 3.x that combination breaks det
(docs/facts.md#runtime-quirks).

The GPU path (``cuda:N``, optionally TensorRT) mirrors PaddleOCR's: device,
memory pool, precision, and a TensorRT subgraph engine.  PaddleOCR collects
its TensorRT shape ranges by running sample images first; here they come from
the engine, which knows every shape it can send (``options.input_range``),
and built engines are kept in ``tensorrt_cache_dir`` when one is set.  A
Paddle built without CUDA (or TensorRT) is refused at load, rather than
quietly running on the CPU.  The CUDA and TensorRT calls themselves cannot run
on the test machines (no paddlepaddle-gpu there); the shape ranges and the
refusals are tested.

Not thread-safe: a predictor owns its input/output buffers, so one
:class:`PaddleRuntime` must be driven by one thread at a time.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

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

with warnings.catch_warnings():
    # Paddle 3.x warns about a missing C++ compiler cache on import; it only
    # matters for building custom ops, which a server never does.
    warnings.filterwarnings("ignore", message="No ccache found", category=UserWarning)
    import paddle
    import paddle.inference as paddle_infer
    from paddle.base.proto import framework_pb2

# Paddle installs C-level handlers for SIGTERM and others that abort the
# process with a "FatalError" report: a SIGTERM would kill the server instead
# of draining it.  Processes that load Paddle re-install their own handlers
# after loading (see frontend/process.py and engine/process.py).
paddle.disable_signal_handler()

MODEL_FILE = "inference.pdmodel"
PARAMS_FILE = "inference.pdiparams"


# Fusion passes PaddleOCR's create_predictor deletes for every model; off here
# too so that outputs match the reference pipeline.
_UNSAFE_PASSES = ("conv_transpose_eltwiseadd_bn_fuse_pass", "matmul_transpose_reshape_fuse_pass")


class PaddleRuntime:
    """One Paddle predictor with zero-copy handles for its single input/output."""

    backend = "paddle"

    def __init__(self, predictor: Any, input_shape: Shape, output_shape: Shape,
                 shape_specialized: bool = False) -> None:
        self.shape_specialized = shape_specialized
        self.input_shape = input_shape
        self.output_shape = output_shape
        self._predictor: Any = predictor
        self._input = predictor.get_input_handle(predictor.get_input_names()[0])
        self._output = predictor.get_output_handle(predictor.get_output_names()[0])

    def run(self, batch: np.ndarray) -> np.ndarray:
        if self._predictor is None:
            raise FailedPrecondition("paddle runtime is closed")
        batch = check_batch(batch, self.input_shape)
        try:
            self._input.copy_from_cpu(batch)
            self._predictor.run()
            output: np.ndarray = self._output.copy_to_cpu()
        except Exception as exc:  # Paddle raises bare RuntimeError/ValueError/OSError
            raise ModelError(f"paddle inference failed on a {batch.shape} batch: {exc}") from exc
        return as_output(output)

    def accept_images(self, tables: np.ndarray) -> bool:
        return False  # takes host arrays: the engine normalises them first (cv2.LUT)

    def reduce_classes(self) -> bool:
        return False  # the whole output; the engine reduces it on the host

    def release_memory(self) -> None:
        """Nothing to do: Paddle's CPU allocator frees to the heap, which the engine trims,
        and its per-shape MKLDNN cache is capped (``shape_cache_size``)."""

    def close(self) -> None:
        if self._predictor is None:
            return
        self._predictor.clear_intermediate_tensor()
        self._predictor.try_shrink_memory()
        self._predictor = self._input = self._output = None


def load(model_dir: Path, model_format: str, options: RuntimeOptions) -> PaddleRuntime:
    """Load ``model_dir/inference.pdmodel`` (+ ``.pdiparams``) for ``options.device``."""
    require_format("paddle", model_format, "paddle")
    model_file = require_file(model_dir / MODEL_FILE)
    params_file = require_file(model_dir / PARAMS_FILE)
    # Parsed before Paddle sees the file: Paddle segfaults on a corrupt program.
    signature = _read_signature(model_file)
    config = paddle_infer.Config(str(model_file), str(params_file))
    if options.gpu_id is None:
        _configure_cpu(config, options)
    else:
        _configure_gpu(config, options, options.gpu_id, signature.input_name)
    _configure_common(config)
    try:
        predictor = paddle_infer.create_predictor(config)
    except Exception as exc:
        raise ModelError(f"paddle could not load {model_dir.name}") from exc
    # MKLDNN (CPU) and TensorRT (GPU) build kernels or engines per input shape.
    specialized = options.enable_mkldnn if options.gpu_id is None else options.use_tensorrt
    return PaddleRuntime(predictor, signature.input_shape, signature.output_shape, specialized)


def _configure_cpu(config: Any, options: RuntimeOptions) -> None:
    config.disable_gpu()
    config.set_cpu_math_library_num_threads(options.cpu_threads)
    if options.enable_mkldnn:
        # MKLDNN caches one kernel set per input shape.  PaddleOCR caps it at 10;
        # the engine warms dozens of shapes at load, and a cap below that would
        # evict them.  The cap still bounds memory when shapes keep changing.
        config.set_mkldnn_cache_capacity(options.shape_cache_size)
        config.enable_mkldnn()
        if hasattr(config, "enable_new_ir"):  # Paddle >= 3.0; off by default there today
            config.enable_new_ir(False)


def _configure_gpu(config: Any, options: RuntimeOptions, gpu_id: int, input_name: str) -> None:
    if not paddle.device.is_compiled_with_cuda():
        # Paddle would only log this and run on the CPU.
        raise ModelError(f"device {options.device} requested but this paddlepaddle was built "
                         "without CUDA; install paddlepaddle-gpu")
    precision = (
        paddle_infer.PrecisionType.Half
        if options.precision == "fp16"
        else paddle_infer.PrecisionType.Float32
    )
    if not options.use_tensorrt:
        config.enable_use_gpu(options.gpu_memory_mb, gpu_id, precision)
        return
    if paddle_infer.get_trt_compile_version() == (0, 0, 0):
        raise ModelError("use_tensorrt is set but this paddlepaddle-gpu was built without "
                         "TensorRT")
    if options.input_range is None:
        raise ModelError("TensorRT with Paddle needs the model's input shape range")
    # With TensorRT the precision belongs to the engine, as in PaddleOCR.
    config.enable_use_gpu(options.gpu_memory_mb, gpu_id)
    config.enable_tensorrt_engine(
        workspace_size=1 << 30,
        max_batch_size=options.input_range.max[0],
        min_subgraph_size=15,  # PaddleOCR's
        precision_mode=precision,
        use_static=bool(options.tensorrt_cache_dir),  # serialise built engines
        use_calib_mode=False,
    )
    if options.tensorrt_cache_dir:
        config.set_optim_cache_dir(options.tensorrt_cache_dir)
    config.set_trt_dynamic_shape_info(*trt_shape_info(input_name, options.input_range))


def trt_shape_info(input_name: str, shapes: ShapeRange) -> tuple[dict[str, list[int]], ...]:
    """``set_trt_dynamic_shape_info``'s arguments: min, max and optimal shapes by input."""
    return ({input_name: list(shapes.min)}, {input_name: list(shapes.max)},
            {input_name: list(shapes.opt)})


def _configure_common(config: Any) -> None:
    config.enable_memory_optim()
    config.disable_glog_info()
    for name in _UNSAFE_PASSES:
        config.delete_pass(name)
    config.switch_use_feed_fetch_ops(False)
    config.switch_ir_optim(True)


class Signature(NamedTuple):
    input_name: str
    input_shape: Shape
    output_shape: Shape


def _read_signature(model_file: Path) -> Signature:
    """Read the input's name and the declared shapes from the program description.

    A predictor reports shape ``[0]`` until its first run, so the program (a
    protobuf) is the only place that says e.g. rec v4 takes height 48 and
    outputs 6625 classes.  Parsing it also rejects a corrupt file cleanly.
    """
    try:
        # Generated protobuf code: its classes are created at runtime, unseen by mypy.
        program_desc: Any = framework_pb2.ProgramDesc  # type: ignore[attr-defined]
        block = program_desc.FromString(model_file.read_bytes()).blocks[0]
        variables = {var.name: var for var in block.vars}
        (input_name,) = _op_vars(block, "feed", "Out")
        (output_name,) = _op_vars(block, "fetch", "X")
        return Signature(input_name, _var_shape(variables[input_name]),
                         _var_shape(variables[output_name]))
    except Exception as exc:
        raise ModelError(
            f"{model_file.name} is not a single-input, single-output Paddle program"
        ) from exc


def _op_vars(block: Any, op_type: str, slot: str) -> list[str]:
    """Names of the variables the ``feed``/``fetch`` ops bind to ``slot``."""
    return [
        name
        for op in block.ops
        if op.type == op_type
        for var in (*op.inputs, *op.outputs)
        if var.parameter == slot
        for name in var.arguments
    ]


def _var_shape(var: Any) -> Shape:
    # The tensor field was renamed lod_tensor (Paddle 2.x) -> dense_tensor (3.x).
    fields = var.type.DESCRIPTOR.fields_by_name
    tensor = var.type.dense_tensor if "dense_tensor" in fields else var.type.lod_tensor
    return declared_shape(tensor.tensor.dims)
