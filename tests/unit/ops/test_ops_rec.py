"""Recognition input shaping and greedy CTC decoding."""

from __future__ import annotations

import numpy as np
import pytest

from ocrserve.errors import ModelError
from ocrserve.ops.rec import (
    CROP,
    REC_TABLES,
    CtcDecoder,
    rec_input,
    rec_max_wh_ratio,
    rec_normalize,
    rec_padded_width,
    rec_target_width,
)


def test_batch_ratio_is_at_least_the_base_width() -> None:
    assert rec_max_wh_ratio([(48, 100), (32, 64)], 48, 320) == 320 / 48
    assert rec_max_wh_ratio([(48, 100), (20, 400)], 48, 320) == 20.0
    assert rec_padded_width(48, 320 / 48) == 320
    assert rec_padded_width(32, 20.0) == 640


def test_target_width_keeps_ratio_rounding_up_and_caps() -> None:
    assert rec_target_width(33, 100, 48, 320 / 48) == 146  # ceil(145.45)
    assert rec_target_width(10, 1000, 48, 320 / 48) == 320  # capped at the batch width
    assert rec_target_width(10, 1000, 48, 100.0) == 4800


def test_preprocess_pads_with_zeros_to_the_batch_width() -> None:
    crop = np.full((16, 20, 3), 255, np.uint8)
    chw = rec_normalize(rec_input(crop, 32, rec_padded_width(32, 320 / 32)))
    assert chw.shape == (3, 32, 320) and chw.dtype == np.float32
    assert (chw[:, :, :40] == 1.0).all() and (chw[:, :, 40:] == 0.0).all()


def test_an_item_marks_the_resized_crop_and_leaves_the_padding_zero() -> None:
    rng = np.random.default_rng(3)
    crops = [rng.integers(0, 256, size=(int(rng.integers(8, 60)), int(rng.integers(5, 700)), 3),
                          dtype=np.uint8) for _ in range(6)]
    channels = np.arange(3)[:, None, None]
    for height in (32, 48):
        ratio = rec_max_wh_ratio((c.shape[:2] for c in crops), height, 320)
        width = rec_padded_width(height, ratio)
        for c in crops:
            item = rec_input(c, height, width)
            resized = rec_target_width(c.shape[0], c.shape[1], height, ratio)
            assert item.shape == (height, width, 4) and item.dtype == np.uint8
            assert (item[:, :resized, 3] == CROP).all() and not item[:, resized:].any()
            normalised = rec_normalize(item)
            samples = item[:, :resized, :3].transpose(2, 0, 1)
            assert (normalised[:, :, :resized] == REC_TABLES[channels, samples]).all()
            assert not normalised[:, :, resized:].any()


def test_rec_normalize_refuses_what_is_not_an_item() -> None:
    with pytest.raises(ValueError, match="4"):
        rec_normalize(np.zeros((32, 50, 3), np.uint8))
    with pytest.raises(ValueError, match="out"):
        rec_normalize(np.zeros((32, 50, 4), np.uint8), out=np.empty((3, 32, 40), np.float32))


@pytest.fixture
def decoder() -> CtcDecoder:
    return CtcDecoder(["a", "b", "c"])  # 0 blank, 1 a, 2 b, 3 c, 4 space


def test_class_count_is_dictionary_plus_blank_and_space(decoder: CtcDecoder) -> None:
    assert decoder.num_classes == 5
    assert CtcDecoder(["a", "b", "c"], use_space_char=False).num_classes == 4


def test_ctc_collapses_repeats_then_drops_blanks(decoder: CtcDecoder) -> None:
    indices = np.array([[0, 1, 1, 0, 1, 2, 2, 4, 3]])
    probs = np.array([[0.9, 0.5, 0.1, 0.9, 0.7, 0.6, 0.2, 0.8, 0.4]], np.float32)
    [(text, score)] = decoder.decode(indices, probs)
    assert text == "aab c"
    # kept: the first of each run that is not blank
    assert score == pytest.approx(np.mean([0.5, 0.7, 0.6, 0.8, 0.4], dtype=np.float32))


def test_ctc_empty_text_scores_zero(decoder: CtcDecoder) -> None:
    result = decoder.decode(np.zeros((2, 4), np.int64), np.ones((2, 4), np.float32))
    assert result == [("", 0.0), ("", 0.0)]
    assert decoder.decode(np.zeros((1, 0), np.int64), np.zeros((1, 0), np.float32)) == [("", 0.0)]


def test_decode_of_argmax_and_max_over_class_probabilities(decoder: CtcDecoder) -> None:
    # the engine sends each row's argmax and max over C, which is what the pipeline decodes
    preds = np.full((1, 3, 5), 0.01, np.float32)
    preds[0, 0, 3], preds[0, 1, 0], preds[0, 2, 3] = 0.9, 0.8, 0.7
    assert decoder.decode(preds.argmax(axis=2), preds.max(axis=2)) == [("cc", pytest.approx(0.8))]


def test_bad_model_outputs_raise_model_error(decoder: CtcDecoder) -> None:
    with pytest.raises(ModelError, match="outside"):
        decoder.decode(np.array([[-1]]), np.array([[1.0]]))
    with pytest.raises(ModelError, match="outside"):
        decoder.decode(np.array([[5]]), np.array([[1.0]]))
    with pytest.raises(ModelError, match="N×T"):
        decoder.decode(np.zeros((1, 3), np.int64), np.zeros((1, 4), np.float32))


def test_reverse_flips_rtl_text_but_keeps_latin_runs() -> None:
    decoder = CtcDecoder(["ا", "ب", "1", "2"], reverse=True)
    indices = np.array([[1, 0, 2, 5, 3, 0, 3, 4]])  # decodes to "اب 112"
    [(text, _)] = decoder.decode(indices, np.ones(indices.shape, np.float32))
    assert text == " 112" + "ب" + "ا"  # pieces ا, ب, " 112" in reverse order
