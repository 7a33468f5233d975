from __future__ import annotations

import numpy as np
import pytest

from ocrserve.engine.shapes import ClsShaper, DetShaper, RecShaper, bucket_up, input_range
from ocrserve.errors import InvalidInput, ModelError
from ocrserve.ops.det import det_normalize
from ocrserve.ops.rec import REC_MAX_WIDTH
from ocrserve.runtimes.base import ShapeRange


def chw(h: int, w: int, value: float = 1.0) -> np.ndarray:
    return np.full((3, h, w), value, np.float32)


def test_bucket_up_uses_buckets_then_steps() -> None:
    assert bucket_up(300, (320, 640), 32) == 320
    assert bucket_up(640, (320, 640), 32) == 640
    assert bucket_up(700, (320, 640), 32) == 704
    assert bucket_up(700, (), 32) == 704


def image(h: int, w: int, value: int = 1) -> np.ndarray:
    """A detector item as the front-end sends it: the resized BGR uint8 page."""
    return np.full((h, w, 3), value, np.uint8)


def test_det_without_buckets_groups_only_equal_shapes() -> None:
    shaper = DetShaper(())
    assert shaper.group_key(image(320, 640)) == (320, 640)
    assert shaper.group_key(image(352, 640)) != shaper.group_key(image(320, 640))


def test_det_batch_is_the_normalised_tensor_bit_for_bit() -> None:
    """Same-size items are normalised in place into the batch; the model sees exactly
    what det_normalize (PaddleOCR's arithmetic, tested in tests/unit/ops) gives."""
    rng = np.random.default_rng(7)
    items = [rng.integers(0, 256, (64, 96, 3), dtype=np.uint8) for _ in range(3)]
    batch = DetShaper(()).assemble(items)
    assert batch.shape == (3, 3, 64, 96) and batch.dtype == np.float32
    for n, item in enumerate(items):
        np.testing.assert_array_equal(batch[n], det_normalize(item))


def test_det_images_for_a_runtime_that_normalises_them_are_only_stacked() -> None:
    """A runtime that accepted images (torch: it normalises on its device) gets the uint8
    pages as they came, and is warmed with images too; buckets would need padding, which
    has no uint8 value, so they and images exclude each other."""
    shaper = DetShaper((), images_to_runtime=True)
    items = [image(64, 96, value) for value in (0, 7, 255)]
    batch = shaper.assemble(items)
    assert batch.dtype == np.uint8 and batch.shape == (3, 64, 96, 3)
    np.testing.assert_array_equal(batch, np.stack(items))
    np.testing.assert_array_equal(shaper.split(np.zeros((3, 1, 64, 96), np.float32), items)[0],
                                  np.zeros((64, 96), np.float32))
    assert [(b.dtype, b.shape) for b in shaper.warmup_batches(4)] == [
        (np.uint8, (1, 960, 960, 3))]
    with pytest.raises(ValueError, match="buckets"):
        DetShaper((320, 640), images_to_runtime=True)


def test_det_buckets_pad_and_crop_back() -> None:
    shaper = DetShaper((320, 640))
    a, b = image(320, 320, 1), image(288, 608, 2)
    assert shaper.group_key(a) == (320, 320) and shaper.group_key(b) == (320, 640)
    batch = shaper.assemble([b, image(320, 640)])
    assert batch.shape == (2, 3, 320, 640)
    np.testing.assert_array_equal(batch[0, :, :288, :608], det_normalize(b))
    assert batch[0, :, 288:, :].sum() == 0 and batch[0, :, :, 608:].sum() == 0
    output = np.arange(2 * 320 * 640, dtype=np.float32).reshape(2, 1, 320, 640)
    maps = shaper.split(output, [b, image(320, 640)])
    assert maps[0].shape == (288, 608) and maps[1].shape == (320, 640)
    assert maps[0][0, 0] == output[0, 0, 0, 0]


def test_det_rejects_sides_not_multiple_of_32_and_float_tensors() -> None:
    with pytest.raises(InvalidInput, match="multiples of 32"):
        DetShaper(()).check(image(100, 320))
    with pytest.raises(InvalidInput, match="uint8 HxWx3"):
        DetShaper(()).check(chw(320, 320))


def test_det_warmup_covers_buckets_up_to_the_limit() -> None:
    shapes = {b.shape[2:] for b in DetShaper((320, 640, 960, 1280), 960).warmup_batches(4)}
    assert shapes == {(h, w) for h in (320, 640, 960) for w in (320, 640, 960)}


def test_cls_stacks_fixed_shapes_and_checks_them() -> None:
    shaper = ClsShaper()
    assert shaper.assemble([chw(48, 192)] * 3).shape == (3, 3, 48, 192)
    with pytest.raises(InvalidInput):
        shaper.check(chw(48, 100))
    rows = shaper.split(np.array([[0.1, 0.9], [0.8, 0.2]], np.float32), [chw(48, 192)] * 2)
    assert [r.tolist() for r in rows] == [pytest.approx([0.1, 0.9]), pytest.approx([0.8, 0.2])]


def test_rec_pads_to_the_step_and_never_below_320() -> None:
    shaper = RecShaper(48, 32)
    assert shaper.group_key(chw(48, 100)) == 320
    assert shaper.group_key(chw(48, 321)) == 352
    batch = shaper.assemble([chw(48, 330, 1.0), chw(48, 340, 2.0)])
    assert batch.shape == (2, 3, 48, 352)
    assert batch[0, :, :, 330:].sum() == 0 and batch[1, :, :, :340].min() == 2.0


def test_rec_reduces_to_argmax_and_max_prob() -> None:
    shaper = RecShaper(32, 32, num_classes=4)
    probs = np.array([[[0.1, 0.7, 0.1, 0.1], [0.9, 0.05, 0.03, 0.02]]], np.float32)
    (out,) = shaper.split(probs, [chw(32, 320)])
    assert out.tolist() == [[1.0, pytest.approx(0.7)], [0.0, pytest.approx(0.9)]]


def test_rec_class_count_mismatch_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="dictionary"):
        RecShaper(32, 32, num_classes=6625).split(np.zeros((1, 5, 97), np.float32),
                                                  [chw(32, 320)])


def within(shape: tuple[int, ...], shapes: ShapeRange) -> bool:
    return all(lo <= d <= hi for lo, d, hi in zip(shapes.min, shape, shapes.max, strict=True))


def test_every_batch_a_shaper_builds_lies_in_its_input_range() -> None:
    """TensorRT engines refuse shapes outside their range: the range must cover the
    warm-up batches and the extremes the server lets through."""
    det = input_range("det", (3, None, None), 4, det_limit=960, det_max_side=4096,
                      det_buckets=(640, 960))
    assert det == ShapeRange((1, 3, 32, 32), (4, 3, 960, 960), (4, 3, 4096, 4096))
    shaper = DetShaper((640, 960))
    for batch in shaper.warmup_batches(4):
        assert within(batch.shape, det)
    assert within(shaper.assemble([image(32, 4096)] * 4).shape, det)

    rec = input_range("rec", (3, 48, None), 6, det_limit=960, det_max_side=4096,
                      rec_width_step=64)
    assert rec == ShapeRange((1, 3, 48, 320), (6, 3, 48, 320), (6, 3, 48, 3200))
    rec_shaper = RecShaper(48, width_step=64)
    for batch in rec_shaper.warmup_batches(6):
        assert within(batch.shape, rec)
    assert within(rec_shaper.assemble([chw(48, REC_MAX_WIDTH)]).shape, rec)

    cls = input_range("cls", (3, 48, 192), 32, det_limit=960, det_max_side=4096)
    assert cls.min == (1, 3, 48, 192) and cls.opt == cls.max == (32, 3, 48, 192)
    for batch in ClsShaper().warmup_batches(32):
        assert within(batch.shape, cls)


def test_input_range_reaches_a_bucket_past_the_largest_side() -> None:
    det = input_range("det", (3, None, None), 2, det_limit=960, det_max_side=1000,
                      det_buckets=(1280,))
    assert det.max == (2, 3, 1280, 1280)
    with pytest.raises(ModelError, match="height"):
        input_range("rec", (3, None, None), 6, det_limit=960, det_max_side=4096)


def test_rec_refuses_inputs_wider_than_the_front_ends_send() -> None:
    RecShaper(32).check(chw(32, REC_MAX_WIDTH))
    with pytest.raises(InvalidInput, match="exceeds"):
        RecShaper(32).check(chw(32, REC_MAX_WIDTH + 1))


@pytest.mark.parametrize(("low", "mid", "high"), [
    ((1, 3), (2, 3), (1, 3)), ((0, 3), (1, 3), (1, 3)), ((1, 3), (1, 3, 1), (1, 3)),
])
def test_a_shape_range_must_be_ordered(low: tuple[int, ...], mid: tuple[int, ...],
                                       high: tuple[int, ...]) -> None:
    with pytest.raises(InvalidInput, match="shape range"):
        ShapeRange(low, mid, high)
