"""The arithmetic a model does at one input shape, and the best rate the CPU reaches.

``ocr-bench ceiling`` divides the one by a batch's time: the rate at which a model
runs, set against the rate of the runtime's own dense matrix multiply on the same
threads (the most this CPU gives a runtime in fp32).  A model that runs near that
rate cannot be made much faster by any runtime setting; only less arithmetic or a
lower precision could, and both change PaddleOCR's results.

Counted from the graph OpenVINO reads (ONNX or Paddle format), so it needs
``openvino``; without it the figures are left out.  A multiply-add counts as two
operations.  Only the layers that hold nearly all the arithmetic are counted:
convolutions (grouped and transposed too), matrix products and LSTMs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ocrserve.bench.timing import median_ms

#: Sides of the square matrices of the dense multiply, as a reference for the CPU's rate.
REFERENCE_SIDE = 2048


def model_gflop(model_dir: Path, model_format: str, shape: tuple[int, ...]) -> float | None:
    """Billions of floating-point operations of one run at ``shape``; None without
    OpenVINO, or for a format it does not read."""
    try:
        import openvino as ov

        from ocrserve.runtimes.openvino import MODEL_FILES
    except ImportError:
        return None
    if model_format not in MODEL_FILES:
        return None
    model = ov.Core().read_model(str(model_dir / MODEL_FILES[model_format]))
    model.reshape(list(shape))
    return graph_gflop(model)


def graph_gflop(model: Any) -> float:
    """Billions of floating-point operations of an OpenVINO model with static shapes."""
    return 2 * sum(_multiply_adds(op) for op in model.get_ordered_ops()) / 1e9


def _multiply_adds(op: Any) -> int:
    kind = op.get_type_name()
    if kind not in ("Convolution", "GroupConvolution", "ConvolutionBackpropData", "MatMul",
                    "LSTMSequence"):
        return 0
    shapes = [list(op.get_input_shape(i)) for i in range(op.get_input_size())]
    out = list(op.get_output_shape(0))
    if kind == "Convolution":  # weights [Cout, Cin, kH, kW]
        return math.prod(out) * math.prod(shapes[1][1:])
    if kind == "GroupConvolution":  # weights [G, Cout/G, Cin/G, kH, kW]
        return math.prod(out) * math.prod(shapes[1][2:])
    if kind == "ConvolutionBackpropData":  # each input element meets Cout x kH x kW weights
        return math.prod(shapes[0]) * math.prod(shapes[1][1:])
    if kind == "MatMul":  # the shared dimension is the first input's last, unless transposed
        transpose_a = op.get_attributes().get("transpose_a", False)
        shared = shapes[0][-2] if transpose_a else shapes[0][-1]
        return math.prod(out) * shared
    # LSTMSequence: X [N, T, I], W [D, 4H, I], R [D, 4H, H]: every step, both products
    batch, steps = shapes[0][0], shapes[0][1]
    return batch * steps * (math.prod(shapes[4]) + math.prod(shapes[5]))


def dense_gflops(threads: int, repeat: int = 10) -> float | None:
    """The rate of OpenVINO's own fp32 matrix multiply of two REFERENCE_SIDE squares on
    ``threads`` threads (median of ``repeat`` runs); None without OpenVINO."""
    try:
        import openvino as ov
        import openvino.opset13 as opset
    except ImportError:
        return None
    side = REFERENCE_SIDE
    rng = np.random.default_rng(0)
    left = opset.parameter([side, side], np.float32)
    right = opset.constant(rng.uniform(-1, 1, (side, side)).astype(np.float32))
    model = ov.Model([opset.matmul(left, right, False, False)], [left])
    compiled = ov.Core().compile_model(model, "CPU", {
        "INFERENCE_NUM_THREADS": str(threads), "INFERENCE_PRECISION_HINT": "f32",
        "PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()
    data = rng.uniform(-1, 1, (side, side)).astype(np.float32)
    ms = median_ms(lambda x: request.infer({0: x}), data, repeat)
    return 2 * side**3 / (ms / 1000) / 1e9
