from __future__ import annotations

import numpy as np
import pytest

from ocrserve.engine.shapes import ClsShaper, DetShaper, RecShaper, bucket_up
from ocrserve.errors import InvalidInput, ModelError


def chw(h: int, w: int, value: float = 1.0) -> np.ndarray:
    return np.full((3, h, w), value, np.float32)


def test_bucket_up_uses_buckets_then_steps() -> None:
    assert bucket_up(300, (320, 640), 32) == 320
    assert bucket_up(640, (320, 640), 32) == 640
    assert bucket_up(700, (320, 640), 32) == 704
    assert bucket_up(700, (), 32) == 704


def test_det_without_buckets_groups_only_equal_shapes() -> None:
    shaper = DetShaper(())
    assert shaper.group_key(chw(320, 640)) == (320, 640)
    assert shaper.group_key(chw(352, 640)) != shaper.group_key(chw(320, 640))


def test_det_buckets_pad_and_crop_back() -> None:
    shaper = DetShaper((320, 640))
    a, b = chw(320, 320, 1.0), chw(288, 608, 2.0)
    assert shaper.group_key(a) == (320, 320) and shaper.group_key(b) == (320, 640)
    batch = shaper.assemble([b, chw(320, 640)])
    assert batch.shape == (2, 3, 320, 640)
    assert batch[0, :, 288:, :].sum() == 0 and batch[0, :, :, 608:].sum() == 0
    output = np.arange(2 * 320 * 640, dtype=np.float32).reshape(2, 1, 320, 640)
    maps = shaper.split(output, [b, chw(320, 640)])
    assert maps[0].shape == (288, 608) and maps[1].shape == (320, 640)
    assert maps[0][0, 0] == output[0, 0, 0, 0]


def test_det_rejects_sides_not_multiple_of_32() -> None:
    with pytest.raises(InvalidInput):
        DetShaper(()).check(chw(100, 320))


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
