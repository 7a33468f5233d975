"""The torch backend: ONNX models run by ``onnx_graph.OnnxGraph`` on CUDA or the CPU
(Paddle-format ones after a one-time export to ONNX, paddle_export.py).

Why torch: it is the GPU path this project can verify (no Paddle GPU build and
no onnxruntime-gpu wheel reach the GPU machine; docs/facts.md), and the same
code runs on the CPU, so ``make test`` checks every model against onnxruntime
here.

On CUDA each input shape is captured once as a CUDA graph (after two warm-up
runs on a side stream, as torch requires) and replayed afterwards: batch-1
inference is launch-bound, and a replay costs one launch.  The converted graph
reads nothing from the device on the host (see onnx_graph.py), which is what
makes the capture possible.  Each model runs on its own CUDA stream: the engine
drives every slot of a GPU from its own thread, so det of one batch, cls and rec
of others are on the device at once instead of queueing on the default stream.

GPU memory.  Every graph of a model shares one memory pool: replays never
overlap (``run`` is not re-entrant) and each output is copied to the host before
the next replay, so one graph may reuse another's intermediate buffers, and
the pool is the size of the largest shape's, not the sum over shapes.  The
first ``shape_cache_size`` shapes are captured (the engine warms its shape
buckets first, so those are the ones); later shapes run eagerly instead of
evicting a graph, so odd sizes cost neither a capture nor more pool.  What a
model takes on its device counts against ``model_memory_budget_mb`` (engine
slots measure the device's memory at load, memory.py).

TF32 is off: with it, det differs from Paddle by 2e-2, without it by at most
4e-5 (docs/facts.md).

Images in.  The engine hands this runtime the resized pages and line crops as
uint8 (``accept_images``; a crop's padding marked in a fourth channel): they
cross to the device at a quarter (pages) or a third (crops) of the float32
bytes, and the normalisation runs there, inside the captured graph, as a lookup
of every sample in its channel's table (:func:`lookup_nchw`).  The tables are
the host's (ops/lookup.py), so the model gets the same bits either way.  It works on
the CPU too (``make test`` checks it there), but the engine asks for it on a GPU
only: on a CPU torch's gather is ~10x slower than the host's cv2.LUT.

Outputs reduced.  A recognizer's output is N x T x classes float32 (6625 classes
for the Chinese dictionary: 68 MB for a batch of 64 v4 crops) and CTC greedy
decoding needs only each step's best class and its probability.  The engine asks
for that reduction (``reduce_classes``) and it runs on the device, inside the
captured graph (:func:`best_class`): 20 KB cross back instead, bit for bit what
the host's argmax would give.

``precision=fp16`` runs weights and activations in float16 (onnx_graph.py casts
the input on entry and the output back to float32 inside the graph call, so a
captured CUDA graph holds the casts and the engine keeps float32).  The CPU runs
every operator of the default models in float16, but slowly (no float16
arithmetic in these CPUs): there it serves to measure fidelity (BENCHMARKS.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from ocrserve.errors import FailedPrecondition, InvalidInput, ModelError
from ocrserve.runtimes.base import (
    RuntimeOptions,
    Shape,
    as_output,
    check_batch,
    check_images,
    declared_shape,
    require_file,
    require_format,
)
from ocrserve.runtimes.onnx_graph import OnnxGraph
from ocrserve.runtimes.paddle_export import exported_onnx

MODEL_FILE = "model.onnx"
#: ``precision`` -> the working dtype of weights and activations (the output stays float32)
DTYPES = {"fp32": torch.float32, "fp16": torch.float16}


class TorchRuntime:
    backend = "torch"
    #: The first run at a shape plans its static values (and on CUDA captures a graph).
    shape_specialized = True

    def __init__(self, graph: OnnxGraph, input_shape: Shape, output_shape: Shape,
                 options: RuntimeOptions) -> None:
        self._graph: OnnxGraph | None = graph
        self.input_shape = input_shape
        self.output_shape = output_shape
        self._device = graph.device
        self._capacity = options.shape_cache_size
        self._captured: dict[tuple[str, tuple[int, ...]],
                             tuple[Any, torch.Tensor, torch.Tensor]] = {}
        #: (C * 256,) lookup tables and each channel's offset into them (accept_images)
        self._tables: tuple[torch.Tensor, torch.Tensor] | None = None
        self._reduce = False  # reduce_classes
        cuda = self._device.type == "cuda"
        self._pool = torch.cuda.graph_pool_handle() if cuda else None
        self._stream = torch.cuda.Stream(self._device) if cuda else None

    def accept_images(self, tables: np.ndarray) -> bool:
        channels, levels = tables.shape
        if tables.dtype != np.float32 or channels != self.input_shape[1]:
            raise ValueError(f"lookup tables {tables.dtype} {tables.shape} do not fit the "
                             f"input {self.input_shape}")
        flat = torch.from_numpy(np.ascontiguousarray(tables).reshape(-1)).to(self._device)
        offsets = torch.arange(channels, device=self._device, dtype=torch.int64) * levels
        self._tables = flat, offsets
        return True

    def reduce_classes(self) -> bool:
        self._reduce = True
        self._captured.clear()  # graphs captured before return the whole output
        return True

    def run(self, batch: np.ndarray) -> np.ndarray:
        if self._graph is None:
            raise FailedPrecondition("torch runtime is closed")
        if batch.dtype == np.uint8 and self._tables is not None:
            masked = batch.ndim == 4 and batch.shape[3] == len(self._tables[1]) + 1
            batch = check_images(batch, self.input_shape, masked)
        else:
            batch = check_batch(batch, self.input_shape)
        try:
            with torch.inference_mode():
                if self._stream is not None:
                    with torch.cuda.stream(self._stream):
                        output = self._replay(batch).cpu()  # waits for this stream only
                else:
                    output = self._forward(torch.from_numpy(batch))
                return as_output(output.numpy())
        except (InvalidInput, ModelError):
            raise
        except Exception as exc:
            raise ModelError(f"torch inference failed on a {batch.shape} batch: {exc}") from exc

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        """The model on a float32 NCHW batch, or on uint8 NHWC images (looked up first);
        its output reduced to the best class when asked (reduce_classes)."""
        assert self._graph is not None
        if batch.dtype == torch.uint8:
            assert self._tables is not None  # run() checked
            batch = lookup_nchw(batch, *self._tables)
        output = self._graph(batch)
        return best_class(output) if self._reduce else output

    def _replay(self, batch: np.ndarray) -> torch.Tensor:
        key = (batch.dtype.str, batch.shape)
        entry = self._captured.get(key)
        if entry is None:
            if len(self._captured) >= self._capacity:  # beyond the captured shapes: eager
                return self._forward(torch.from_numpy(batch).to(self._device))
            entry = self._captured[key] = self._capture(batch)
        graph, static_input, static_output = entry
        static_input.copy_(torch.from_numpy(batch), non_blocking=False)
        graph.replay()
        return static_output

    def _capture(self, batch: np.ndarray) -> tuple[Any, torch.Tensor, torch.Tensor]:
        static_input = torch.from_numpy(batch).to(self._device)
        side = torch.cuda.Stream(self._device)
        side.wait_stream(torch.cuda.current_stream(self._device))
        with torch.cuda.stream(side):
            for _ in range(2):  # plans the shape's static values, warms the kernels
                self._forward(static_input)
        torch.cuda.current_stream(self._device).wait_stream(side)
        cuda_graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(cuda_graph, pool=self._pool):
            static_output = self._forward(static_input)
        return cuda_graph, static_input, static_output

    def release_memory(self) -> None:
        if self._device.type == "cuda":
            torch.cuda.empty_cache()

    def close(self) -> None:
        self._graph = None
        self._captured.clear()
        self.release_memory()


def lookup_nchw(images: torch.Tensor, tables: torch.Tensor,
                offsets: torch.Tensor) -> torch.Tensor:
    """``tables[c * 256 + images[n, h, w, c]]`` as an NCHW float32 tensor, on the images'
    device: :func:`ocrserve.ops.lookup.lookup_chw` for a batch.  With one channel more
    than ``offsets``, that last channel is a mask (``Runtime.accept_images``): 0.0
    wherever it is 0, as ``ops.rec.rec_normalize``.  A gather and a select, nothing
    read back to the host, so a CUDA graph can hold them."""
    channels = len(offsets)
    values = tables[images[..., :channels].to(torch.int64) + offsets]
    if images.shape[-1] > channels:
        values = torch.where(images[..., channels:] == 0, 0.0, values)
    return values.permute(0, 3, 1, 2).contiguous()


def best_class(output: torch.Tensor) -> torch.Tensor:
    """(..., classes) -> (..., 2) float32: the index of the largest value of the last
    axis (the first of equal ones, as numpy's argmax) and that value
    (``Runtime.reduce_classes``).  On the output's device, nothing read back to the
    host, so a CUDA graph can hold it."""
    best = output.argmax(dim=-1, keepdim=True)
    return torch.cat([best.to(torch.float32), output.gather(-1, best).to(torch.float32)],
                     dim=-1)


def load(model_dir: Path, model_format: str, options: RuntimeOptions) -> TorchRuntime:
    """Load ``model_dir/model.onnx`` onto ``options.device``; a Paddle-format model is
    exported to ONNX first, once (paddle_export.py)."""
    if model_format == "paddle":
        model_file = exported_onnx(model_dir)
    else:
        require_format("torch", model_format, "onnx")
        model_file = require_file(model_dir / MODEL_FILE)
    device = torch.device(options.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ModelError(f"{options.device} requested, but torch sees no CUDA device")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    else:
        torch.set_num_threads(options.cpu_threads)  # the process's intra-op pool
    try:
        model = onnx.load(str(model_file))
        graph = OnnxGraph(model, device, options.shape_cache_size, DTYPES[options.precision])
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"the torch backend could not load {model_file.name}") from exc
    (model_input,) = [i for i in model.graph.input
                      if i.name not in {t.name for t in model.graph.initializer}]
    return TorchRuntime(graph, _dims(model_input), _dims(model.graph.output[0]), options)


def _dims(value: onnx.ValueInfoProto) -> Shape:
    return declared_shape(d.dim_value for d in value.type.tensor_type.shape.dim)
