from __future__ import annotations

import numpy as np
import pytest

from ocrserve.engine.shapes import (
    ClsShaper,
    DetShaper,
    RecShaper,
    bucket_up,
    input_range,
    model_elements,
)
from ocrserve.errors import InvalidInput, ModelError
from ocrserve.ops.det import det_normalize
from ocrserve.ops.rec import CROP, REC_MAX_WIDTH, REC_TABLES
from ocrserve.runtimes.base import ShapeRange


def crop(h: int, w: int, value: int = 1) -> np.ndarray:
    """A cls/rec item as the front-end sends it: a resized crop, marked over all its width."""
    item = np.full((h, w, 4), value, np.uint8)
    item[:, :, 3] = CROP
    return item


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
        DetShaper(()).check(np.zeros((3, 320, 320), np.float32))


def test_det_warmup_covers_buckets_up_to_the_limit() -> None:
    shapes = {b.shape[2:] for b in DetShaper((320, 640, 960, 1280), 960).warmup_batches(4)}
    assert shapes == {(h, w) for h in (320, 640, 960) for w in (320, 640, 960)}


def test_cls_stacks_fixed_shapes_and_checks_them() -> None:
    shaper = ClsShaper()
    batch = shaper.assemble([crop(48, 192, 255)] * 3)
    assert batch.shape == (3, 3, 48, 192) and batch.dtype == np.float32 and (batch == 1.0).all()
    with pytest.raises(InvalidInput):
        shaper.check(crop(48, 100))
    with pytest.raises(InvalidInput, match="HxWx4"):
        shaper.check(np.zeros((3, 48, 192), np.float32))  # the float32 CHW of old
    rows = shaper.split(np.array([[0.1, 0.9], [0.8, 0.2]], np.float32), [crop(48, 192)] * 2)
    assert [r.tolist() for r in rows] == [pytest.approx([0.1, 0.9]), pytest.approx([0.8, 0.2])]


def test_rec_pads_to_the_step_and_never_below_320() -> None:
    shaper = RecShaper(48, 32)
    assert shaper.group_key(crop(48, 100)) == 320
    assert shaper.group_key(crop(48, 321)) == 352
    batch = shaper.assemble([crop(48, 330, 1), crop(48, 340, 2)])
    assert batch.shape == (2, 3, 48, 352)
    assert (batch[0, :, :, :330] == REC_TABLES[:, 1, None, None]).all()
    assert (batch[1, :, :, :340] == REC_TABLES[:, 2, None, None]).all()
    assert not batch[0, :, :, 330:].any() and not batch[1, :, :, 340:].any()


def test_unmarked_samples_are_padding_wherever_they_are() -> None:
    item = crop(32, 320, 200)
    item[:, 300:, 3] = 0  # the padding rec_input leaves, though its samples are not 0
    item[5, 7, 3] = 0
    (normalised,) = RecShaper(32).assemble([item])
    assert not normalised[:, :, 300:].any() and not normalised[:, 5, 7].any()
    assert (normalised[:, :, :300].sum(axis=0) != 0).sum() == 32 * 300 - 1


def test_a_runtime_that_normalises_gets_the_items_padded_with_unmarked_zeros() -> None:
    shaper = RecShaper(48, 32, images_to_runtime=True)
    batch = shaper.assemble([crop(48, 330, 7), crop(48, 340, 9)])
    assert batch.dtype == np.uint8 and batch.shape == (2, 48, 352, 4)
    assert (batch[0, :, :330] == [7, 7, 7, CROP]).all() and not batch[0, :, 330:].any()
    assert (batch[1, :, :340] == [9, 9, 9, CROP]).all() and not batch[1, :, 340:].any()
    assert all(b.dtype == np.uint8 and b.shape[1:] == (48, b.shape[2], 4)
               for b in shaper.warmup_batches(6))
    images = ClsShaper(images_to_runtime=True)
    assert images.assemble([crop(48, 192)] * 2).shape == (2, 48, 192, 4)
    assert {b.shape for b in images.warmup_batches(8)} == {(1, 48, 192, 4), (8, 48, 192, 4)}


def test_rec_reduces_to_argmax_and_max_prob() -> None:
    shaper = RecShaper(32, 32, num_classes=4)
    probs = np.array([[[0.1, 0.7, 0.1, 0.1], [0.9, 0.05, 0.03, 0.02]]], np.float32)
    (out,) = shaper.split(probs, [crop(32, 320)])
    assert out.tolist() == [[1.0, pytest.approx(0.7)], [0.0, pytest.approx(0.9)]]


def test_rec_output_reduced_by_the_runtime_passes_through_and_is_checked() -> None:
    shaper = RecShaper(32, classes_reduced=True)
    reduced = np.array([[[1.0, 0.7], [0.0, 0.9]], [[5.0, 0.6], [2.0, 0.8]]], np.float32)
    first, second = shaper.split(reduced, [crop(32, 320)] * 2)
    np.testing.assert_array_equal(first, reduced[0])
    np.testing.assert_array_equal(second, reduced[1])
    with pytest.raises(ModelError, match="reduced"):
        shaper.split(np.zeros((1, 5, 6625), np.float32), [crop(32, 320)])


def test_rec_class_count_mismatch_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="dictionary"):
        RecShaper(32, 32, num_classes=6625).split(np.zeros((1, 5, 97), np.float32),
                                                  [crop(32, 320)])


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
    assert within(rec_shaper.assemble([crop(48, REC_MAX_WIDTH)]).shape, rec)

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
    RecShaper(32).check(crop(32, REC_MAX_WIDTH))
    with pytest.raises(InvalidInput, match="exceeds"):
        RecShaper(32).check(crop(32, REC_MAX_WIDTH + 1))


@pytest.mark.parametrize(("low", "mid", "high"), [
    ((1, 3), (2, 3), (1, 3)), ((0, 3), (1, 3), (1, 3)), ((1, 3), (1, 3, 1), (1, 3)),
])
def test_a_shape_range_must_be_ordered(low: tuple[int, ...], mid: tuple[int, ...],
                                       high: tuple[int, ...]) -> None:
    with pytest.raises(InvalidInput, match="shape range"):
        ShapeRange(low, mid, high)


def test_model_elements_count_what_the_model_gets_not_the_mark() -> None:
    """batch_elements / item_elements - 1 is the padding metric: items and batches must
    count in the same units whatever crosses (float32, pages, marked crops)."""
    items = [crop(32, 330), crop(32, 340)]
    for images in (False, True):
        batch = RecShaper(32, 32, images_to_runtime=images).assemble(items)
        assert model_elements(batch) == 2 * 3 * 32 * 352
    assert sum(model_elements(i) for i in items) == 3 * 32 * (330 + 340)
    assert model_elements(image(64, 96)) == model_elements(np.zeros((1, 3, 64, 96), np.float32))
