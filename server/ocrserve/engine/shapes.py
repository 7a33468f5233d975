"""How each model kind turns queued items into one input batch and back.

Pure numpy: no runtime, no asyncio.  The batcher only merges items that share
a ``group_key``; a shaper decides that key and how to pad:

- det: an item is the resized BGR uint8 image (HWC, sides multiples of 32),
  normalised here straight into the batch (``ops.det.det_normalize``): a
  quarter of the bytes a float32 tensor would take through the transport.
  Without buckets only same-size inputs (video frames) share a batch and
  results equal PaddleOCR's.  With buckets an item is zero-padded (after
  normalisation) bottom/right to its bucket and the output map cropped back:
  different sizes batch together and every shape can be warmed, at the price
  of small box differences near the padded edges.  ``images_to_runtime``
  (a runtime that normalises on its device, see ``Runtime.accept_images``):
  the batch stays uint8 NHWC, the images merely stacked; only without
  buckets, as padding must be zero after normalisation, which no uint8 is.
- cls and rec: an item is a crop resized to the model height, uint8 HxWx4: BGR
  and a fourth channel marking the crop (``ops.rec.rec_input``), 0 over the
  padding PaddleOCR would add; normalised here into the batch
  (``ops.rec.rec_normalize``), the padding 0.0.  cls items are a fixed 48x192
  and all batch together.  A rec item has the width PaddleOCR would pad it to
  (``pipeline.rec_tensors``); by default only items of equal width share a
  batch, so nothing changes the model's input; a width step > 1 pads further
  so more items batch together.  The rec output is reduced on the engine to
  per-timestep (argmax, max prob): CTC greedy decoding needs nothing else, and
  it is ~3000x smaller; by the runtime itself where it offers to
  (``Runtime.reduce_classes``: torch, on the model's device).  With
  ``images_to_runtime`` the batch stays uint8 NHWC, mask included, and the
  runtime normalises and masks on its device.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ocrserve.errors import InvalidInput, ModelError
from ocrserve.ops.det import det_normalize
from ocrserve.ops.rec import REC_BASE_WIDTH, REC_MAX_WIDTH, rec_normalize
from ocrserve.runtimes.base import Shape, ShapeRange

#: Wider recognizer inputs are rare (a line over 20x as wide as tall) and costly to
#: warm with Paddle on CPU: they pay their first-run cost when used.
REC_WARM_MAX_WIDTH = 960


def bucket_up(value: int, buckets: Sequence[int], step: int) -> int:
    """Smallest bucket >= value; past the largest, the next multiple of ``step``."""
    i = bisect.bisect_left(buckets, value)
    if i < len(buckets):
        return buckets[i]
    return -(-value // step) * step


def model_elements(array: np.ndarray) -> int:
    """The model-input elements an item or a batch is, or becomes once normalised: a
    float32 NCHW tensor as it is; uint8 pages (HxWx3) and marked crops (HxWx4), items or
    NHWC batches, three a pixel, since a crop's mark is no input (for the padding
    metrics: slots.py)."""
    if array.dtype == np.float32:
        return array.size
    return array.size // array.shape[-1] * 3


class Shaper(Protocol):
    def check(self, item: np.ndarray) -> None: ...

    def group_key(self, item: np.ndarray) -> Hashable: ...

    def sort_key(self, item: np.ndarray) -> float: ...

    def assemble(self, items: Sequence[np.ndarray]) -> np.ndarray: ...

    def split(self, output: np.ndarray, items: Sequence[np.ndarray]) -> list[np.ndarray]: ...

    def warmup_batches(self, max_batch_size: int) -> list[np.ndarray]: ...


def _check_crop(item: np.ndarray, height: int) -> None:
    """A cls/rec item: a resized crop with its padding mark (``ops.rec.rec_input``)."""
    if item.dtype != np.uint8 or item.ndim != 3 or item.shape[2] != 4:
        raise InvalidInput(f"expected a uint8 HxWx4 crop (BGR and its mark), got {item.dtype} "
                           f"{tuple(item.shape)}")
    if item.shape[0] != height:
        raise InvalidInput(f"expected height {height}, got {item.shape[0]}")


def _crop_batch(items: Sequence[np.ndarray], width: int, images: bool) -> np.ndarray:
    """cls/rec items as one batch ``width`` wide: normalised NCHW float32, or (``images``)
    the uint8 NHWC items themselves, zero (unmarked) to the right of each."""
    height = items[0].shape[0]
    if images:
        batch = np.zeros((len(items), height, width, 4), np.uint8)
        for n, item in enumerate(items):
            batch[n, :, : item.shape[1]] = item
        return batch
    return _normalised(items, height, width, rec_normalize)


def _normalised(items: Sequence[np.ndarray], height: int, width: int,
                normalize: Callable[..., np.ndarray]) -> np.ndarray:
    """HWC uint8 items ``normalize``d into one NCHW float32 batch, each zero-padded
    bottom and right to ``height`` x ``width``; ``normalize(item, out=...)`` writes
    into a C-contiguous (3, h, w) float32 array, so unpadded items need no copy."""
    if all(item.shape[:2] == (height, width) for item in items):
        batch = np.empty((len(items), 3, height, width), np.float32)
        for n, item in enumerate(items):
            normalize(item, out=batch[n])
        return batch
    batch = np.zeros((len(items), 3, height, width), np.float32)
    for n, item in enumerate(items):
        batch[n, :, : item.shape[0], : item.shape[1]] = normalize(item)
    return batch


def _crop_warmup(n: int, height: int, width: int, images: bool) -> np.ndarray:
    if images:
        return np.zeros((n, height, width, 4), np.uint8)
    return np.zeros((n, 3, height, width), np.float32)


@dataclass(frozen=True)
class DetShaper:
    buckets: tuple[int, ...]
    #: Inputs larger than this are rare (the default limit_side_len is 960): their
    #: buckets are not warmed.
    warm_limit: int = 960
    #: Batches of uint8 NHWC images for a runtime that accepted them (module docstring).
    images_to_runtime: bool = False

    def __post_init__(self) -> None:
        if self.images_to_runtime and self.buckets:
            raise ValueError("image batches cannot be padded to buckets")

    def check(self, item: np.ndarray) -> None:
        if item.dtype != np.uint8 or item.ndim != 3 or item.shape[2] != 3:
            raise InvalidInput(f"expected a uint8 HxWx3 image, got {item.dtype} "
                               f"{tuple(item.shape)}")
        if item.shape[0] % 32 or item.shape[1] % 32:
            raise InvalidInput(f"detection input sides must be multiples of 32, got {item.shape}")

    def bucket(self, height: int, width: int) -> tuple[int, int]:
        return bucket_up(height, self.buckets, 32), bucket_up(width, self.buckets, 32)

    def group_key(self, item: np.ndarray) -> Hashable:
        return self.bucket(item.shape[0], item.shape[1])

    def sort_key(self, item: np.ndarray) -> float:
        return 0.0

    def assemble(self, items: Sequence[np.ndarray]) -> np.ndarray:
        h, w = self.bucket(max(i.shape[0] for i in items), max(i.shape[1] for i in items))
        if self.images_to_runtime:  # no buckets: every item is h x w
            return np.stack(items)
        return _normalised(items, h, w, det_normalize)

    def split(self, output: np.ndarray, items: Sequence[np.ndarray]) -> list[np.ndarray]:
        if output.ndim != 4 or output.shape[1] != 1:
            raise ModelError(f"detection model returned shape {output.shape}, expected Nx1xHxW")
        return [np.ascontiguousarray(output[n, 0, : i.shape[0], : i.shape[1]])
                for n, i in enumerate(items)]

    def warmup_batches(self, max_batch_size: int) -> list[np.ndarray]:
        sides = [b for b in self.buckets if b <= bucket_up(self.warm_limit, self.buckets, 32)]
        sides = sides or [self.warm_limit // 32 * 32]  # no buckets: warm one typical shape
        if self.images_to_runtime:
            return [np.zeros((1, h, w, 3), np.uint8) for h in sides for w in sides]
        return [np.zeros((1, 3, h, w), np.float32) for h in sides for w in sides]


@dataclass(frozen=True)
class ClsShaper:
    height: int = 48
    width: int = 192
    #: Batches of uint8 NHWC items for a runtime that accepted them (module docstring).
    images_to_runtime: bool = False

    def check(self, item: np.ndarray) -> None:
        _check_crop(item, self.height)
        if item.shape[1] != self.width:
            raise InvalidInput(f"expected width {self.width}, got {item.shape[1]}")

    def group_key(self, item: np.ndarray) -> Hashable:
        return None

    def sort_key(self, item: np.ndarray) -> float:
        return 0.0

    def assemble(self, items: Sequence[np.ndarray]) -> np.ndarray:
        return _crop_batch(items, self.width, self.images_to_runtime)

    def split(self, output: np.ndarray, items: Sequence[np.ndarray]) -> list[np.ndarray]:
        if output.ndim != 2:
            raise ModelError(f"classifier returned shape {output.shape}, expected NxLabels")
        return [np.ascontiguousarray(row) for row in output]

    def warmup_batches(self, max_batch_size: int) -> list[np.ndarray]:
        return [_crop_warmup(n, self.height, self.width, self.images_to_runtime)
                for n in sorted({1, max_batch_size})]


@dataclass(frozen=True)
class RecShaper:
    height: int
    width_step: int = 1
    num_classes: int | None = None
    min_width: int = REC_BASE_WIDTH
    #: Batches of uint8 NHWC items for a runtime that accepted them (module docstring).
    images_to_runtime: bool = False
    #: The runtime returns (argmax, max) per step itself (``Runtime.reduce_classes``).
    classes_reduced: bool = False

    def check(self, item: np.ndarray) -> None:
        _check_crop(item, self.height)
        if item.shape[1] > REC_MAX_WIDTH:  # the front-ends squeeze wider crops
            raise InvalidInput(f"recognizer input width {item.shape[1]} exceeds {REC_MAX_WIDTH}")

    def group_key(self, item: np.ndarray) -> Hashable:
        return self.padded_width(item.shape[1])

    def padded_width(self, width: int) -> int:
        """The item's width rounded up to the step, never below PaddleOCR's 320."""
        return max(self.min_width, -(-width // self.width_step) * self.width_step)

    def sort_key(self, item: np.ndarray) -> float:
        return float(item.shape[1])

    def assemble(self, items: Sequence[np.ndarray]) -> np.ndarray:
        width = self.padded_width(max(i.shape[1] for i in items))
        return _crop_batch(items, width, self.images_to_runtime)

    def split(self, output: np.ndarray, items: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Return per item a (T, 2) float32 array: argmax class, its probability."""
        if output.ndim != 3:
            raise ModelError(f"recognizer returned shape {output.shape}, expected NxTxClasses")
        if self.classes_reduced:
            if output.shape[2] != 2:
                raise ModelError(f"recognizer returned shape {output.shape}, expected the "
                                 "reduced NxTx2 (argmax, max)")
            return [np.ascontiguousarray(r) for r in output]
        if self.num_classes is not None and output.shape[2] != self.num_classes:
            raise ModelError(
                f"recognizer outputs {output.shape[2]} classes but its dictionary implies "
                f"{self.num_classes} (lines + blank + space): wrong dictionary for this model?"
            )
        return [np.ascontiguousarray(r) for r in best_class(output)]

    def warmup_batches(self, max_batch_size: int) -> list[np.ndarray]:
        widths = range(self.min_width, REC_WARM_MAX_WIDTH + 1, max(self.width_step, 64))
        return [_crop_warmup(n, self.height, w, self.images_to_runtime)
                for w in widths for n in sorted({1, max_batch_size})]


def best_class(output: np.ndarray) -> np.ndarray:
    """(N, T, classes) -> (N, T, 2) float32: per step the argmax class and its value."""
    best = output.argmax(axis=2)
    # One pass over the class axis: the max is gathered at the argmax.
    probs = np.take_along_axis(output, best[:, :, None], axis=2)[:, :, 0]
    return np.stack([best.astype(np.float32), probs], axis=2)


def input_range(kind: str, chw: Shape, max_batch_size: int, *, det_limit: int,
                det_max_side: int, det_buckets: Sequence[int] = (),
                rec_width_step: int = 1) -> ShapeRange:
    """Every NCHW input the engine can give a ``kind`` model, and the one to tune for.

    The bounds are the ones the server enforces: det sides are multiples of 32 up
    to ``det_max_side_len`` (or the largest bucket), rec widths from PaddleOCR's 320
    up to REC_MAX_WIDTH (after the width step), cls inputs are fixed.  Tuned for full batches at the
    usual size (a ``det_limit`` square, a 320-wide line): the load at which speed
    matters.  Used for TensorRT, whose engines accept nothing outside the range.
    ``chw`` is the model's declared [C, H, W] (None where dynamic).
    """
    channels = chw[0] or 3
    if kind == "det":
        side = max(det_limit // 32 * 32, 32)
        largest = max(det_max_side // 32 * 32, *det_buckets, side)
        return ShapeRange((1, channels, 32, 32), (max_batch_size, channels, side, side),
                          (max_batch_size, channels, largest, largest))
    height, width = chw[1] or ClsShaper.height, chw[2] or ClsShaper.width
    if kind == "cls":
        shape = (channels, height, width)
        return ShapeRange((1, *shape), (max_batch_size, *shape), (max_batch_size, *shape))
    if kind == "rec":
        if not chw[1]:
            raise ModelError("unknown recognizer input height; set it on import")
        shaper = RecShaper(height, rec_width_step)
        narrowest, widest = shaper.padded_width(REC_BASE_WIDTH), shaper.padded_width(REC_MAX_WIDTH)
        return ShapeRange((1, channels, height, narrowest),
                          (max_batch_size, channels, height, narrowest),
                          (max_batch_size, channels, height, widest))
    raise ModelError(f"unknown model kind {kind!r}")
