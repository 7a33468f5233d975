"""Angle classifier input, decoding and the 180° rule."""

from __future__ import annotations

import numpy as np
import pytest

from ocrserve.errors import ModelError
from ocrserve.ops.cls import LABELS, apply_angle, cls_decode, cls_input, turns_crop
from ocrserve.ops.rec import rec_normalize


def test_labels_are_paddleocrs() -> None:
    assert LABELS == ("0", "180")


def test_narrow_crop_is_padded_with_zeros_on_the_right() -> None:
    chw = rec_normalize(cls_input(np.full((24, 48, 3), 255, np.uint8), (3, 48, 192)))
    assert chw.shape == (3, 48, 192) and chw.dtype == np.float32
    assert (chw[:, :, :96] == 1.0).all()  # white -> 1.0, resized to 48×96
    assert (chw[:, :, 96:] == 0.0).all()


def test_wide_crop_is_squeezed_to_the_model_width() -> None:
    chw = rec_normalize(cls_input(np.zeros((10, 1000, 3), np.uint8), (3, 48, 192)))
    assert chw.shape == (3, 48, 192) and (chw == -1.0).all()  # black -> -1.0, no padding


def test_cls_decode_picks_the_best_label() -> None:
    probs = np.array([[0.2, 0.8], [0.97, 0.03]], np.float32)
    result = cls_decode(probs)
    assert [label for label, _ in result] == ["180", "0"]
    assert [score for _, score in result] == [pytest.approx(0.8), pytest.approx(0.97)]


def test_cls_decode_rejects_wrong_class_count() -> None:
    with pytest.raises(ModelError):
        cls_decode(np.zeros((2, 3), np.float32))


def test_rotation_only_for_confident_180() -> None:
    crop = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    np.testing.assert_array_equal(apply_angle(crop, "180", 0.95, 0.9), crop[::-1, ::-1])
    assert apply_angle(crop, "180", 0.9, 0.9) is crop  # not strictly above the threshold
    assert apply_angle(crop, "0", 0.99, 0.9) is crop


@pytest.mark.parametrize(("label", "score", "turned"), [
    ("180", 0.95, True), ("180", 0.9, False), ("180", 0.5, False), ("0", 0.99, False)])
def test_turns_crop_is_paddleocrs_rule(label: str, score: float, turned: bool) -> None:
    assert turns_crop(label, score, 0.9) is turned
