"""An ONNX graph run with torch operations: the converter behind the torch backend.

PaddleOCR's det, cls and rec networks use 32 ONNX operators (convolutions,
batch norms, activations, nearest upsampling, a bidirectional LSTM in the v2
recognizers, the attention and layer norm of the v4 ones, and the shape
arithmetic Paddle's exporter emits around them).  Each has a small torch
equivalent below, checked against onnxruntime (``tests/integration/
test_torch_runtime.py``).  onnx2torch was not used: it has no LSTM and keeps
Slice/Resize parameters on the host (docs/facts.md).

Static and data values.  A value is *static* when it follows from constants
and input *shapes* alone (Paddle's exporter builds the LSTM's initial state
from ``Shape -> Slice -> Concat -> Tile``).  Which values are static is known
from the graph; their contents depend only on the input shape, so they are
computed once per input shape on the CPU (:meth:`OnnxGraph.plan`) and cached
with device copies.  A run at a planned shape then launches only the data
operators, reads no device value on the host, and so can be captured as a
CUDA graph.

Working dtype.  ``dtype`` (float32, or float16 for ``precision=fp16``) is what
floating values are on the device: weights are cast once after constant
folding (which runs in float32, so folded weights are exact before rounding),
the input is cast on entry and the output returned as float32, all inside
:meth:`OnnxGraph.__call__` so a CUDA graph captures the casts.  A Cast "to
float" means the working dtype.  Shape arithmetic (int64) is untouched.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

from ocrserve.errors import ModelError

Values = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Node:
    op: str
    inputs: tuple[str, ...]  # "" for an absent optional input
    outputs: tuple[str, ...]
    attrs: dict[str, Any]


@dataclass(frozen=True)
class Plan:
    """The static values of one input shape: on the CPU (read as shapes and scalars)
    and on the device (used as data)."""

    cpu: Values
    device: Values


#: Inputs an operator reads on the host (shapes, indices, bounds); the others are data.
HOST_INPUTS: dict[str, frozenset[int]] = {
    "Reshape": frozenset({1}), "Slice": frozenset({1, 2, 3, 4}), "Tile": frozenset({1}),
    "Squeeze": frozenset({1}), "Unsqueeze": frozenset({1}), "Resize": frozenset({1, 2, 3}),
    "Clip": frozenset({1, 2}),
}


class OnnxGraph:
    """A single-input, single-output ONNX model as a callable over torch tensors."""

    def __init__(self, model: onnx.ModelProto, device: torch.device,
                 plan_cache_size: int = 128, dtype: torch.dtype = torch.float32) -> None:
        graph = model.graph
        weights = {t.name for t in graph.initializer}
        inputs = [i.name for i in graph.input if i.name not in weights]
        if len(inputs) != 1 or len(graph.output) != 1:
            raise ModelError("the torch backend runs models with one input and one output")
        (self.input_name,), self.output_name = inputs, graph.output[0].name
        self.device = device
        self.dtype = dtype
        self.opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                         default=11)
        constants: Values = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy())
                             for t in graph.initializer}
        nodes = []
        for proto in graph.node:
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in proto.attribute}
            if proto.op_type == "Constant":
                constants[proto.output[0]] = torch.from_numpy(
                    numpy_helper.to_array(attrs["value"]).copy())
                continue
            if proto.op_type not in OPS:
                raise ModelError(f"the torch backend has no ONNX operator {proto.op_type}")
            node = Node(proto.op_type, tuple(proto.input), tuple(proto.output), attrs)
            if node.op != "Shape" and node.op != "LSTM" and all(
                    not i or i in constants for i in node.inputs):
                # Constant folding: e.g. the LSTM's weights, concatenated by the exporter.
                args = [constants.get(i) if i else None for i in node.inputs]
                constants.update(zip(node.outputs, OPS[node.op](self, node, args),
                                     strict=False))
                continue
            nodes.append(node)
        nodes = _fold_batch_norms(nodes, constants, self.output_name)
        read = {i for n in nodes for i in n.inputs}
        static = set(constants)
        for node in nodes:  # graph order is topological
            if node.op == "Shape" or all(not i or i in static for i in node.inputs):
                static.update(node.outputs)
        self._nodes = [(node, set(node.outputs) <= static) for node in nodes]
        self._constants = constants
        self._device_constants = {k: self._working(v) for k, v in constants.items()
                                  if v.dtype.is_floating_point and k in read}
        self._lstms = {n.outputs[0]: _lstm_module(n, constants, device, dtype)
                       for n in nodes if n.op == "LSTM"}
        self._plans: OrderedDict[tuple[int, ...], Plan] = OrderedDict()
        self._plan_cache_size = plan_cache_size
        self._nearest: dict[tuple[int, float, bytes], torch.Tensor] = {}

    @property
    def planned_shapes(self) -> list[tuple[int, ...]]:
        return list(self._plans)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Run the graph.  The first run at an input shape also computes the static
        values (on the CPU) and keeps them; later runs at that shape skip them."""
        shape = tuple(x.shape)
        plan = self._plans.get(shape)
        if plan is None:
            plan = Plan(dict(self._constants), dict(self._device_constants))
            building = True
        else:
            self._plans.move_to_end(shape)
            building = False
        values: Values = {self.input_name: x.to(self.dtype)}
        for node, is_static in self._nodes:
            if is_static:
                if building:
                    args = [plan.cpu.get(i, values.get(i)) if i else None for i in node.inputs]
                    plan.cpu.update(zip(node.outputs, OPS[node.op](self, node, args),
                                        strict=False))
                continue
            host = HOST_INPUTS.get(node.op, frozenset())
            args = [None if not name else values[name] if name in values
                    else plan.cpu[name] if position in host else self._on_device(plan, name)
                    for position, name in enumerate(node.inputs)]
            values.update(zip(node.outputs, OPS[node.op](self, node, args), strict=False))
        if building:
            self._plans[shape] = plan
            while len(self._plans) > self._plan_cache_size:
                self._plans.popitem(last=False)
        return values[self.output_name].to(torch.float32)

    def nearest_index(self, size: int, scale: float, rounding: bytes) -> torch.Tensor:
        """Source rows (or columns) of a nearest Resize, on the device, made once per
        size: ONNX rounds ``i / scale`` half down by default, where torch's nearest
        takes the floor, and at a scale of 4 they differ."""
        key = (size, scale, rounding)
        index = self._nearest.get(key)
        if index is None:
            positions = _NEAREST[rounding](np.arange(int(size * scale)) / scale)
            index = torch.from_numpy(np.clip(positions, 0, size - 1).astype(np.int64))
            index = self._nearest[key] = index.to(self.device)
        return index

    def _on_device(self, plan: Plan, name: str) -> torch.Tensor:
        """A static value used as data: its device copy (made by the run that planned
        it, so later runs copy nothing)."""
        copy = plan.device.get(name)
        if copy is None:
            copy = plan.device[name] = self._working(plan.cpu[name])
        return copy

    def _working(self, value: torch.Tensor) -> torch.Tensor:
        """``value`` on the device, in the working dtype if it is floating."""
        if value.dtype.is_floating_point:
            return value.to(self.device, self.dtype)
        return value.to(self.device)


def _fold_batch_norms(nodes: list[Node], constants: Values, output: str) -> list[Node]:
    """``nodes`` with each BatchNormalization that is the only reader of a Conv's output
    folded into that Conv's weights and bias (new float32 constants in ``constants``).

    Why: float16 cannot hold what some convolutions compute before their normalization
    (up to 72,800 in det's head; float16 ends at 65,504), while the folded convolution
    yields the normalized values directly.  onnxruntime folds the same pairs, and a run
    launches one kernel instead of two.
    """
    readers = Counter(i for n in nodes for i in n.inputs)
    convs = {n.outputs[0]: n for n in nodes if n.op == "Conv" and n.inputs[1] in constants}
    norms = {n.inputs[0]: n for n in nodes
             if n.op == "BatchNormalization" and n.inputs[0] in convs
             and readers[n.inputs[0]] == 1 and n.inputs[0] != output
             and all(i in constants for i in n.inputs[1:5]) and not any(n.outputs[1:])}
    folded = []
    for node in nodes:
        if node.op == "BatchNormalization" and node.inputs[0] in norms:
            continue
        norm = norms.get(node.outputs[0]) if node.op == "Conv" else None
        if norm is None:
            folded.append(node)
            continue
        gamma, beta, mean, var = (constants[i].double() for i in norm.inputs[1:5])
        scale = gamma / torch.sqrt(var + norm.attrs.get("epsilon", 1e-5))
        weight = constants[node.inputs[1]].double()
        bias = constants[node.inputs[2]].double() if len(node.inputs) > 2 and node.inputs[2] \
            else torch.zeros_like(mean)
        names = (f"{norm.outputs[0]}/folded_weight", f"{norm.outputs[0]}/folded_bias")
        constants[names[0]] = (weight * scale.reshape(-1, 1, 1, 1)).float()
        constants[names[1]] = ((bias - mean) * scale + beta).float()
        folded.append(Node(node.op, (node.inputs[0], *names), norm.outputs[:1], node.attrs))
    return folded


# ------------------------------------------------------------------- operators

Op = Callable[[OnnxGraph, Node, list[Any]], Sequence[torch.Tensor]]


def _ints(t: torch.Tensor | None) -> list[int]:
    return [] if t is None else [int(v) for v in t.to("cpu").reshape(-1).tolist()]


def _meta_shape(t: torch.Tensor) -> torch.Tensor:
    return torch.tensor(list(t.shape), dtype=torch.int64)


def _unary(fn: Callable[[torch.Tensor], torch.Tensor]) -> Op:
    return lambda g, n, a: (fn(a[0]),)


def _binary(fn: Callable[[Any, Any], torch.Tensor]) -> Op:
    return lambda g, n, a: (fn(a[0], a[1]),)


def _conv(g: OnnxGraph, n: Node, a: list[Any]) -> Sequence[torch.Tensor]:
    x, w, b = a[0], a[1], a[2] if len(a) > 2 else None
    x, padding = _symmetric(x, n.attrs.get("pads", [0, 0, 0, 0]))
    return (F.conv2d(x, w, b, stride=n.attrs.get("strides", [1, 1]), padding=padding,
                     dilation=n.attrs.get("dilations", [1, 1]), groups=n.attrs.get("group", 1)),)


def _symmetric(x: torch.Tensor, pads: list[int]) -> tuple[torch.Tensor, list[int]]:
    """ONNX pads (top, left, bottom, right) as torch's symmetric padding, padding the
    input first when they differ."""
    top, left, bottom, right = pads
    if (top, left) == (bottom, right):
        return x, [top, left]
    return F.pad(x, [left, right, top, bottom]), [0, 0]


def _conv_transpose(g: OnnxGraph, n: Node, a: list[Any]) -> Sequence[torch.Tensor]:
    pads = n.attrs.get("pads", [0, 0, 0, 0])
    if pads[:2] != pads[2:]:
        raise ModelError("ConvTranspose with asymmetric pads is not supported")
    return (F.conv_transpose2d(a[0], a[1], a[2] if len(a) > 2 else None,
                               stride=n.attrs.get("strides", [1, 1]), padding=pads[:2],
                               output_padding=n.attrs.get("output_padding", [0, 0]),
                               groups=n.attrs.get("group", 1),
                               dilation=n.attrs.get("dilations", [1, 1])),)


def _batch_norm(g: OnnxGraph, n: Node, a: list[Any]) -> Sequence[torch.Tensor]:
    x, scale, bias, mean, var = a[:5]
    return (F.batch_norm(x, mean, var, scale, bias, False, 0.0, n.attrs.get("epsilon", 1e-5)),)


def _clip(g: OnnxGraph, n: Node, a: list[Any]) -> Sequence[torch.Tensor]:
    low = a[1] if len(a) > 1 and a[1] is not None else n.attrs.get("min")
    high = a[2] if len(a) > 2 and a[2] is not None else n.attrs.get("max")
    as_float = [None if v is None else float(v) for v in (low, high)]
    return (torch.clamp(a[0], as_float[0], as_float[1]),)


def _hard_sigmoid(g: OnnxGraph, n: Node, a: list[Any]) -> Sequence[torch.Tensor]:
    alpha, beta = n.attrs.get("alpha", 0.2), n.attrs.get("beta", 0.5)
    return (torch.clamp(a[0] * alpha + beta, 0.0, 1.0),)


def _resize(g: OnnxGraph, n: Node, a: list[Any]) -> Sequence[torch.Tensor]:
    mode = n.attrs.get("mode", b"nearest")
    transform = n.attrs.get("coordinate_transformation_mode", b"half_pixel")
    scales = [float(v) for v in a[2].reshape(-1).tolist()] if len(a) > 2 and a[2] is not None \
        and a[2].numel() else []
    rounding = n.attrs.get("nearest_mode", b"round_prefer_floor")
    if mode != b"nearest" or transform != b"asymmetric" or len(scales) != 4 or \
            scales[:2] != [1.0, 1.0] or rounding not in _NEAREST:
        raise ModelError("the torch backend supports Resize only as nearest, asymmetric, "
                         "by spatial scales (what PaddleOCR's detectors use)")
    x = a[0]
    rows = g.nearest_index(x.shape[2], scales[2], rounding)
    cols = g.nearest_index(x.shape[3], scales[3], rounding)
    return (x.index_select(2, rows).index_select(3, cols),)


#: ONNX nearest_mode -> the source index of output i at scale s (asymmetric: i / s).
_NEAREST: dict[bytes, Callable[[np.ndarray], np.ndarray]] = {
    b"round_prefer_floor": lambda v: np.ceil(v - 0.5),  # ties go down: not torch's floor
    b"floor": np.floor,
}


def _reshape(g: OnnxGraph, n: Node, a: list[Any]) -> Sequence[torch.Tensor]:
    shape = _ints(a[1])
    target = [a[0].shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return (a[0].reshape(target),)


def _concat(g: OnnxGraph, n: Node, a: list[Any]) -> Sequence[torch.Tensor]:
    return (torch.cat([t for t in a if t is not None], dim=n.attrs["axis"]),)


def _max_pool(g: OnnxGraph, n: Node, a: list[Any]) -> Sequence[torch.Tensor]:
    x, padding = _symmetric(a[0], n.attrs.get("pads", [0, 0, 0, 0]))
    return (F.max_pool2d(x, n.attrs["kernel_shape"], n.attrs.get("strides", [1, 1]), padding,
                         ceil_mode=bool(n.attrs.get("ceil_mode", 0))),)


def _axes(g: OnnxGraph, n: Node, a: list[Any]) -> list[int]:
    return list(n.attrs["axes"]) if "axes" in n.attrs else _ints(a[1] if len(a) > 1 else None)


def _squeeze(g: OnnxGraph, n: Node, a: list[Any]) -> Sequence[torch.Tensor]:
    axes = _axes(g, n, a)
    x = a[0]
    for axis in sorted((ax % x.dim() for ax in axes), reverse=True):
        x = x.squeeze(axis)
    return (x,)


def _unsqueeze(g: OnnxGraph, n: Node, a: list[Any]) -> Sequence[torch.Tensor]:
    x = a[0]
    rank = x.dim() + len(_axes(g, n, a))
    for axis in sorted(ax % rank for ax in _axes(g, n, a)):
        x = x.unsqueeze(axis)
    return (x,)


def _slice(g: OnnxGraph, n: Node, a: list[Any]) -> Sequence[torch.Tensor]:
    x = a[0]
    starts, ends = _ints(a[1]), _ints(a[2])
    axes = _ints(a[3]) if len(a) > 3 and a[3] is not None else list(range(len(starts)))
    steps = _ints(a[4]) if len(a) > 4 and a[4] is not None else [1] * len(starts)
    index: list[slice] = [slice(None)] * x.dim()
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        if step != 1:
            raise ModelError("Slice with a step other than 1 is not supported")
        size = x.shape[axis]
        index[axis] = slice(max(-size, min(start, size)), max(-size - 1, min(end, size)))
    return (x[tuple(index)],)


def _tile(g: OnnxGraph, n: Node, a: list[Any]) -> Sequence[torch.Tensor]:
    return (a[0].repeat(*_ints(a[1])),)


def _transpose(g: OnnxGraph, n: Node, a: list[Any]) -> Sequence[torch.Tensor]:
    perm = n.attrs.get("perm") or list(reversed(range(a[0].dim())))
    return (a[0].permute(*perm).contiguous(),)


def _softmax(g: OnnxGraph, n: Node, a: list[Any]) -> Sequence[torch.Tensor]:
    x = a[0]
    axis = n.attrs.get("axis", 1 if g.opset < 13 else -1) % x.dim()
    if g.opset >= 13:
        return (torch.softmax(x, dim=axis),)
    # Before opset 13 Softmax works on the input flattened to 2-D at ``axis``.
    rows = int(np.prod(x.shape[:axis]))
    return (torch.softmax(x.reshape(rows, -1), dim=1).reshape(x.shape),)


def _cast(g: OnnxGraph, n: Node, a: list[Any]) -> Sequence[torch.Tensor]:
    """A cast to float means the working dtype (float16 under ``precision=fp16``)."""
    dtype = _DTYPES.get(n.attrs["to"])
    if dtype is None:
        raise ModelError(f"Cast to ONNX type {n.attrs['to']} is not supported")
    return (a[0].to(g.dtype if dtype == torch.float32 else dtype),)


_DTYPES = {onnx.TensorProto.FLOAT: torch.float32, onnx.TensorProto.INT64: torch.int64,
           onnx.TensorProto.INT32: torch.int32, onnx.TensorProto.FLOAT16: torch.float16,
           onnx.TensorProto.BOOL: torch.bool}


def _average_pool(g: OnnxGraph, n: Node, a: list[Any]) -> Sequence[torch.Tensor]:
    pads = n.attrs.get("pads", [0, 0, 0, 0])
    if pads[:2] != pads[2:]:
        raise ModelError("AveragePool with asymmetric pads is not supported")
    return (F.avg_pool2d(a[0], n.attrs["kernel_shape"], n.attrs.get("strides", [1, 1]),
                         pads[:2], ceil_mode=bool(n.attrs.get("ceil_mode", 0)),
                         count_include_pad=bool(n.attrs.get("count_include_pad", 0))),)


def _reduce_mean(g: OnnxGraph, n: Node, a: list[Any]) -> Sequence[torch.Tensor]:
    axes = _axes(g, n, a) or list(range(a[0].dim()))
    return (a[0].mean(dim=axes, keepdim=bool(n.attrs.get("keepdims", 1))),)


def _div(g: OnnxGraph, n: Node, a: list[Any]) -> Sequence[torch.Tensor]:
    """ONNX divides integers (shape arithmetic) with truncation, where torch's ``/``
    would give floats."""
    x, y = a
    if not x.dtype.is_floating_point and not y.dtype.is_floating_point:
        return (torch.div(x, y, rounding_mode="trunc"),)
    return (torch.div(x, y),)


def _global_average_pool(g: OnnxGraph, n: Node, a: list[Any]) -> Sequence[torch.Tensor]:
    return (a[0].mean(dim=(2, 3), keepdim=True),)


def _lstm(g: OnnxGraph, n: Node, a: list[Any]) -> Sequence[torch.Tensor]:
    """ONNX LSTM through torch's: Y [seq, directions, batch, hidden], Y_h, Y_c."""
    module = g._lstms[n.outputs[0]]
    if len(a) > 4 and a[4] is not None:
        raise ModelError("LSTM with sequence_lens is not supported")
    x = a[0]
    directions = 2 if module.bidirectional else 1
    shape = (directions, x.shape[1], module.hidden_size)
    h0 = a[5] if len(a) > 5 and a[5] is not None else x.new_zeros(shape)
    c0 = a[6] if len(a) > 6 and a[6] is not None else x.new_zeros(shape)
    y, (h, c) = module(x, (h0.contiguous(), c0.contiguous()))
    y = y.reshape(x.shape[0], x.shape[1], directions, module.hidden_size).permute(0, 2, 1, 3)
    return (y, h, c)


def _lstm_module(node: Node, constants: Values, device: torch.device,
                 dtype: torch.dtype) -> torch.nn.LSTM:
    """A torch LSTM holding the node's weights: ONNX gates are (i, o, f, c), torch's
    (i, f, g, o)."""
    direction = node.attrs.get("direction", b"forward")
    if direction not in (b"forward", b"bidirectional"):
        raise ModelError(f"LSTM direction {direction!r} is not supported")
    hidden = int(node.attrs["hidden_size"])
    w, r = constants[node.inputs[1]], constants[node.inputs[2]]
    b = constants.get(node.inputs[3]) if len(node.inputs) > 3 and node.inputs[3] else None
    module = torch.nn.LSTM(w.shape[2], hidden, bidirectional=direction == b"bidirectional")
    order = torch.cat([torch.arange(0, hidden), torch.arange(2 * hidden, 3 * hidden),
                       torch.arange(3 * hidden, 4 * hidden), torch.arange(hidden, 2 * hidden)])
    with torch.no_grad():
        for d, suffix in enumerate(["", "_reverse"][:w.shape[0]]):
            getattr(module, f"weight_ih_l0{suffix}").copy_(w[d][order])
            getattr(module, f"weight_hh_l0{suffix}").copy_(r[d][order])
            bias = b[d] if b is not None else torch.zeros(8 * hidden)
            getattr(module, f"bias_ih_l0{suffix}").copy_(bias[:4 * hidden][order])
            getattr(module, f"bias_hh_l0{suffix}").copy_(bias[4 * hidden:][order])
    return module.to(device, dtype).eval()


def _shape(g: OnnxGraph, n: Node, a: list[Any]) -> Sequence[torch.Tensor]:
    return (_meta_shape(a[0]),)


OPS: dict[str, Op] = {
    "Add": _binary(torch.add), "Sub": _binary(torch.sub), "Mul": _binary(torch.mul),
    "Div": _div, "MatMul": _binary(torch.matmul), "Pow": _binary(torch.pow),
    "Relu": _unary(torch.relu), "Sigmoid": _unary(torch.sigmoid), "Sqrt": _unary(torch.sqrt),
    "HardSwish": _unary(F.hardswish), "Identity": _unary(lambda x: x),
    "Conv": _conv, "ConvTranspose": _conv_transpose, "BatchNormalization": _batch_norm,
    "Clip": _clip, "HardSigmoid": _hard_sigmoid, "Resize": _resize, "Reshape": _reshape,
    "Concat": _concat, "MaxPool": _max_pool, "AveragePool": _average_pool,
    "GlobalAveragePool": _global_average_pool, "ReduceMean": _reduce_mean,
    "Squeeze": _squeeze, "Unsqueeze": _unsqueeze, "Slice": _slice, "Tile": _tile,
    "Transpose": _transpose, "Softmax": _softmax, "Cast": _cast, "LSTM": _lstm,
    "Shape": _shape,
}
