"""The arithmetic ``ocr-bench ceiling`` counts: per layer kind on a small graph built
here, whose multiply-adds are worked out by hand, and on the real recognizer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ocrserve.bench.flops import dense_gflops, graph_gflop, model_gflop

ov = pytest.importorskip("openvino")
opset = pytest.importorskip("openvino.opset13")


def weights(*shape: int) -> object:
    return opset.constant(np.ones(shape, np.float32))


def test_each_layer_kind_counts_its_multiply_adds() -> None:
    image = opset.parameter([1, 4, 8, 8], np.float32)
    # 3x3 convolution 4 -> 6 channels: 6*8*8 outputs, 4*3*3 each
    conv = opset.convolution(image, weights(6, 4, 3, 3), [1, 1], [1, 1], [1, 1], [1, 1])
    # depthwise 3x3 over the 6 channels: 6*8*8 outputs, 3*3 each
    depthwise = opset.group_convolution(conv, weights(6, 1, 1, 3, 3), [1, 1], [1, 1], [1, 1],
                                        [1, 1])
    # 2x2 stride-2 transposed convolution 6 -> 2: each of 6*8*8 inputs meets 2*2*2 weights
    up = opset.convolution_backprop_data(depthwise, weights(6, 2, 2, 2), [2, 2],
                                         pads_begin=[0, 0], pads_end=[0, 0], dilations=[1, 1])
    # 2*16*16 = 512 values times a 512x10 matrix
    flat = opset.reshape(up, opset.constant(np.array([1, 512], np.int64)), False)
    product = opset.matmul(flat, weights(512, 10), False, False)
    # bidirectional LSTM, hidden 4, over 5 steps of 10 features, batch 1: per step and
    # direction 16*10 input and 16*4 recurrent multiply-adds
    steps = opset.reshape(product, opset.constant(np.array([1, 1, 10], np.int64)), False)
    steps = opset.concat([steps] * 5, 1)
    lstm = opset.lstm_sequence(
        steps, opset.constant(np.zeros((1, 2, 4), np.float32)),
        opset.constant(np.zeros((1, 2, 4), np.float32)), opset.constant(np.array([5], np.int32)),
        weights(2, 16, 10), weights(2, 16, 4), weights(2, 16), 4, "bidirectional")
    model = ov.Model([lstm.output(0)], [image])
    multiply_adds = (384 * 36) + (384 * 9) + (384 * 8) + (512 * 10) + 5 * 2 * (160 + 64)
    assert graph_gflop(model) == pytest.approx(2 * multiply_adds / 1e9)


def test_the_recognizers_arithmetic_follows_its_input(model_repository: Path) -> None:
    rec = model_repository / "ch_PP-OCRv2_rec" / "1"
    six = model_gflop(rec, "onnx", (6, 3, 32, 320))
    assert six is not None and 5 < six < 8  # 6.3 GFLOP for six 320-wide crops
    assert model_gflop(rec, "onnx", (3, 3, 32, 320)) == pytest.approx(six / 2)
    assert model_gflop(rec, "onnx", (6, 3, 32, 640)) == pytest.approx(2 * six, rel=0.01)
    assert model_gflop(rec, "torchscript", (6, 3, 32, 320)) is None


def test_the_dense_reference_rate_is_measured() -> None:
    rate = dense_gflops(threads=1, repeat=2)
    assert rate is not None and rate > 1
