"""The seam between the engine and an inference library.

A backend loads one model and runs one numpy batch at a time.  PaddleOCR's
det/cls/rec networks all have exactly one input and one output, so the
interface is deliberately that small; a backend that needs more (e.g. TensorRT
shape profiles) takes it from :class:`RuntimeOptions`.

The helpers below hold what every backend must do identically: validate the
options, check a batch against the declared input, normalise declared shapes
and outputs.  Backends translate their library's exceptions into
:mod:`ocrserve.errors` classes; nothing library-specific leaves a backend.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ocrserve.errors import InvalidInput, ModelError

PRECISIONS = ("fp32", "fp16")
PERFORMANCE_HINTS = ("latency", "throughput")
_DEVICE = re.compile(r"cpu|cuda:(\d+)")

Shape = tuple[int | None, ...]
Dims = tuple[int, ...]


@dataclass(frozen=True)
class ShapeRange:
    """The NCHW input shapes a model will be given: the smallest, the one to tune for,
    the largest.

    TensorRT builds an engine for one such range (Paddle's dynamic shape info,
    onnxruntime's explicit profile); without it Paddle-TensorRT fails on the first
    shape that differs from the one it was built for and onnxruntime rebuilds its
    engine, minutes on a GPU, for each new shape.  The engine derives the range from
    what its shapers can produce (``engine.shapes.input_range``).
    """

    min: Dims
    opt: Dims
    max: Dims

    def __post_init__(self) -> None:
        if not len(self.min) == len(self.opt) == len(self.max):
            raise InvalidInput(f"shape range {self} mixes ranks")
        dims = zip(self.min, self.opt, self.max, strict=True)
        if not all(0 < lo <= mid <= hi for lo, mid, hi in dims):
            raise InvalidInput(f"shape range {self} is not 0 < min <= opt <= max per dimension")


@dataclass(frozen=True)
class RuntimeOptions:
    """How to run a model; filled from the server settings.

    ``precision`` applies on CUDA (and to TensorRT engines) and to OpenVINO on
    the CPU; onnxruntime and Paddle on the CPU always run fp32.  Invalid values
    raise :class:`InvalidInput` at construction so a bad setting fails at
    startup, not at the first request.
    """

    device: str = "cpu"  # "cpu" or "cuda:N"
    cpu_threads: int = 2
    enable_mkldnn: bool = True  # Paddle on CPU: worth 5-7x (docs/facts.md#runtime-quirks)
    gpu_memory_mb: int = 500  # Paddle's initial GPU memory pool
    use_tensorrt: bool = False
    precision: str = "fp32"  # fp32 | fp16 (TensorRT / CUDA / OpenVINO)
    cpu_streams: int = 1  # OpenVINO: a batch runs as this many parallel slices
    performance_hint: str = "latency"  # OpenVINO: latency | throughput
    shape_cache_size: int = 128  # per-shape kernel caches (Paddle MKLDNN, OpenVINO)
    #: OpenVINO: input shapes that came back compiled on their own, at most this many
    #: (0: none); set per slot by the engine (runtimes/openvino.py, "Static shapes").
    static_shapes: int = 0
    #: The model's input shapes, set per slot by the engine: TensorRT engines need them.
    input_range: ShapeRange | None = None
    #: Where TensorRT keeps built engines across restarts ("" = rebuild at each load).
    tensorrt_cache_dir: str = ""

    def __post_init__(self) -> None:
        if _DEVICE.fullmatch(self.device) is None:
            raise InvalidInput(f"device must be 'cpu' or 'cuda:N', got {self.device!r}")
        if self.cpu_threads < 1:
            raise InvalidInput(f"cpu_threads must be >= 1, got {self.cpu_threads}")
        if self.gpu_memory_mb < 1:
            raise InvalidInput(f"gpu_memory_mb must be >= 1, got {self.gpu_memory_mb}")
        if self.precision not in PRECISIONS:
            raise InvalidInput(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if not 1 <= self.cpu_streams <= self.cpu_threads:
            raise InvalidInput(
                f"cpu_streams must be between 1 and cpu_threads ({self.cpu_threads}), "
                f"got {self.cpu_streams}")
        if self.performance_hint not in PERFORMANCE_HINTS:
            raise InvalidInput(f"performance_hint must be one of {PERFORMANCE_HINTS}, "
                               f"got {self.performance_hint!r}")
        if self.shape_cache_size < 1:
            raise InvalidInput(f"shape_cache_size must be >= 1, got {self.shape_cache_size}")
        if self.static_shapes < 0:
            raise InvalidInput(f"static_shapes must be >= 0, got {self.static_shapes}")

    @property
    def gpu_id(self) -> int | None:
        """The CUDA device index, or None when running on the CPU."""
        match = _DEVICE.fullmatch(self.device)
        assert match is not None  # checked in __post_init__
        return None if match.group(1) is None else int(match.group(1))


class Runtime(Protocol):
    """One loaded model.  ``run`` is blocking and not re-entrant: the engine
    calls it from one worker thread per slot.

    ``input_shape``/``output_shape`` are what the model file declares, with
    None for dynamic dimensions.  Only fixed channel/height/class dimensions
    are trustworthy: some exports declare stale spatial sizes (the v2 det ONNX
    declares a 960×960 output whatever the input), so callers learn the rest
    from a warm-up run.
    """

    backend: str
    input_shape: Shape
    output_shape: Shape
    #: True when the first run at a new input shape is slow (Paddle with MKLDNN
    #: builds kernels per shape): the engine then warms every shape bucket.
    shape_specialized: bool

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run an NCHW float32 batch; return the single output, batch-first,
        as a C-contiguous float32 array the caller owns.

        Raises :class:`InvalidInput` for a batch that breaks the contract
        (dtype, rank, a fixed declared dimension), :class:`ModelError` when the
        library fails, :class:`FailedPrecondition` after :meth:`close`.
        """
        ...

    def accept_images(self, tables: np.ndarray) -> bool:
        """Offer uint8 images instead of normalised tensors, from now on.

        ``tables`` are per-channel lookup tables ((C, 256) float32, see
        :mod:`ocrserve.ops.lookup`).  True: :meth:`run` takes, besides NCHW float32
        batches, NHWC uint8 batches of images and maps each sample through its channel's
        table on the model's device, giving bit for bit what the host would give.  An
        image batch may have one channel more than the tables: a mask, and every
        sample of a pixel whose mask is 0 becomes 0.0 (padding after normalisation, as
        PaddleOCR pads recognizer crops: ``ops.rec.rec_input``).  On a GPU that is a
        quarter to a third of the bytes to copy and no per-pixel work on the engine's
        CPU.  False: only float32 batches, normalised by the caller.
        """
        ...

    def reduce_classes(self) -> bool:
        """Offer to reduce the output's last axis on the model's device, from now on.

        True: :meth:`run` returns, for every position of the output but the last axis,
        the index of the largest value (the first of equal ones, as numpy's argmax) and
        that value, as float32 (..., 2) in place of (..., classes): all a recognizer's
        CTC greedy decoding needs.  On a GPU that is classes / 2 times fewer bytes to
        copy back (3312 for the Chinese dictionary: 68 MB for a batch of 64 v4 crops
        becomes 20 KB) and no pass over them on the host.  False: the whole output,
        which the caller reduces (``engine.shapes.RecShaper``).
        """
        ...

    def release_memory(self) -> None:
        """Give back memory the library holds beyond what the model needs (called when
        the engine is idle; blocking, on the runtime's thread).  May do nothing."""
        ...

    def close(self) -> None:
        """Release the model's memory; idempotent."""
        ...


class RuntimeLoader(Protocol):
    def __call__(self, model_dir: Path, model_format: str, options: RuntimeOptions) -> Runtime: ...


def require_format(backend: str, model_format: str, supported: str) -> None:
    """Fail the load early when a backend is asked to run another format."""
    if model_format != supported:
        raise ModelError(
            f"the {backend} backend runs {supported!r} models, not {model_format!r}"
        )


def require_file(path: Path) -> Path:
    """Return ``path`` if it is a regular file, else raise ModelError naming it."""
    if not path.is_file():
        raise ModelError(f"model file missing: {path}")
    return path


def declared_shape(dims: Iterable[object]) -> Shape:
    """Normalise a library's declared dimensions: positive ints stay, and
    everything that means "dynamic" (None, -1, 0, symbolic names) becomes None."""
    return tuple(d if isinstance(d, int) and d > 0 else None for d in dims)


def check_batch(batch: np.ndarray, declared: Shape) -> np.ndarray:
    """Check a batch against the runtime contract; return it C-contiguous.

    Wrong dtype is rejected rather than cast: the engine's preprocessing
    always produces float32, so anything else is a caller bug that a silent
    cast (and its hidden copy) would mask.
    """
    if batch.dtype != np.float32:
        raise InvalidInput(f"batch must be float32, got {batch.dtype}")
    if batch.ndim != 4:
        raise InvalidInput(f"batch must be 4-D NCHW, got shape {batch.shape}")
    _check_nchw(batch.shape, declared, "batch shape")
    return np.ascontiguousarray(batch)


def check_images(batch: np.ndarray, declared: Shape, masked: bool = False) -> np.ndarray:
    """:func:`check_batch` for an NHWC uint8 batch of images (see ``accept_images``);
    ``masked``: its last channel is the mask, beyond the model's channels."""
    if batch.dtype != np.uint8 or batch.ndim != 4:
        raise InvalidInput(f"an image batch must be 4-D NHWC uint8, got {batch.dtype} "
                           f"{batch.shape}")
    n, height, width, channels = batch.shape
    _check_nchw((n, channels - masked, height, width), declared,
                f"image batch {batch.shape} (NHWC{', masked' if masked else ''}) as")
    return np.ascontiguousarray(batch)


def _check_nchw(shape: tuple[int, ...], declared: Shape, what: str) -> None:
    if 0 in shape:
        raise InvalidInput(f"{what} {shape} has an empty dimension")
    for axis, (got, want) in enumerate(zip(shape, declared, strict=False)):
        if want is not None and got != want:
            raise InvalidInput(
                f"{what} {shape} does not match the model's declared "
                f"input {declared}: dimension {axis} must be {want}"
            )


def as_output(array: np.ndarray) -> np.ndarray:
    """The output contract: C-contiguous float32 (no copy when already so)."""
    return np.ascontiguousarray(array, dtype=np.float32)
