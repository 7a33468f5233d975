"""Runtime options, the batch contract and onnxruntime's provider choice:
the logic every backend shares, tested without loading a model."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from ocrserve.errors import InvalidInput, ModelError
from ocrserve.runtimes import load_runtime, resolve_backend
from ocrserve.runtimes.base import (
    RuntimeOptions,
    ShapeRange,
    as_output,
    check_batch,
    check_images,
    declared_shape,
    require_file,
)
from ocrserve.runtimes.onnxruntime import CPU, CUDA, TENSORRT, select_providers

REC_RANGE = ShapeRange((1, 3, 48, 320), (6, 3, 48, 320), (6, 3, 48, 3200))


@pytest.mark.parametrize(("device", "gpu_id"), [("cpu", None), ("cuda:0", 0), ("cuda:12", 12)])
def test_device_gives_gpu_id(device: str, gpu_id: int | None) -> None:
    assert RuntimeOptions(device=device).gpu_id == gpu_id


@pytest.mark.parametrize(
    "bad",
    [
        {"device": "gpu"},
        {"device": "cuda"},
        {"device": "cuda:x"},
        {"device": "CPU"},
        {"cpu_threads": 0},
        {"gpu_memory_mb": 0},
        {"precision": "int8"},
        {"cpu_streams": 0},
        {"cpu_streams": 3, "cpu_threads": 2},
        {"performance_hint": "fast"},
        {"shape_cache_size": 0},
    ],
)
def test_invalid_options_fail_at_construction(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        RuntimeOptions(**bad)  # type: ignore[arg-type]


def test_declared_shape_maps_dynamic_markers_to_none() -> None:
    assert declared_shape([None, 3, "?", "p2o.DynamicDimension.1", -1, 0, 6625]) == (
        None, 3, None, None, None, None, 6625,
    )


def test_check_batch_accepts_and_makes_contiguous() -> None:
    view = np.zeros((2, 3, 8, 16), dtype=np.float32)[:, :, :, ::2]
    assert not view.flags.c_contiguous
    checked = check_batch(view, (None, 3, None, None))
    assert checked.flags.c_contiguous
    assert checked.shape == (2, 3, 8, 8)


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        (np.zeros((1, 3, 8, 8), dtype=np.float64), "float32"),
        (np.zeros((3, 8, 8), dtype=np.float32), "4-D"),
        (np.zeros((0, 3, 8, 8), dtype=np.float32), "empty"),
        (np.zeros((1, 1, 48, 8), dtype=np.float32), "dimension 1 must be 3"),
        (np.zeros((1, 3, 32, 8), dtype=np.float32), "dimension 2 must be 48"),
    ],
)
def test_check_batch_rejects(batch: np.ndarray, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_batch(batch, (None, 3, 48, None))


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (np.zeros((1, 48, 8, 3), dtype=np.float32), "NHWC uint8"),
        (np.zeros((48, 8, 3), dtype=np.uint8), "NHWC uint8"),
        (np.zeros((1, 48, 0, 3), dtype=np.uint8), "empty"),
        (np.zeros((1, 48, 8, 4), dtype=np.uint8),
         r"\(1, 48, 8, 4\) \(NHWC\).*dimension 1 must be 3"),
        (np.zeros((1, 32, 8, 3), dtype=np.uint8), "dimension 2 must be 48"),
    ],
)
def test_check_images_rejects_in_the_callers_layout(images: np.ndarray, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_images(images, (None, 3, 48, None))
    assert check_images(np.zeros((2, 48, 8, 3), np.uint8), (None, 3, 48, None)).shape == (
        2, 48, 8, 3)


def test_as_output_is_contiguous_float32() -> None:
    out = as_output(np.ones((4, 2), dtype=np.float16).T)
    assert out.dtype == np.float32
    assert out.flags.c_contiguous
    already = np.ones((2, 2), dtype=np.float32)
    assert as_output(already) is already


def test_require_file_names_the_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=str(tmp_path / "model.onnx")):
        require_file(tmp_path / "model.onnx")


def test_unknown_backend_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="unknown runtime backend 'tensorflow'"):
        load_runtime("tensorflow", tmp_path, "onnx", RuntimeOptions())


def test_cpu_gets_only_the_cpu_provider() -> None:
    assert select_providers(RuntimeOptions(), [TENSORRT, CUDA, CPU]) == [(CPU, {})]


def test_cuda_prefers_tensorrt_then_cuda_then_cpu() -> None:
    options = RuntimeOptions(device="cuda:1", use_tensorrt=True, precision="fp16")
    assert select_providers(options, [TENSORRT, CUDA, CPU]) == [
        (TENSORRT, {"device_id": 1, "trt_fp16_enable": True}),
        (CUDA, {"device_id": 1}),
        (CPU, {}),
    ]


def test_tensorrt_gets_the_engines_shape_range_and_cache() -> None:
    options = RuntimeOptions(device="cuda:0", use_tensorrt=True, input_range=REC_RANGE,
                             tensorrt_cache_dir="/var/cache/trt")
    (name, trt), *_ = select_providers(options, [TENSORRT, CUDA, CPU], input_name="x")
    assert name == TENSORRT
    assert trt == {
        "device_id": 0, "trt_fp16_enable": False,
        "trt_profile_min_shapes": "x:1x3x48x320", "trt_profile_opt_shapes": "x:6x3x48x320",
        "trt_profile_max_shapes": "x:6x3x48x3200",
        "trt_engine_cache_enable": True, "trt_engine_cache_path": "/var/cache/trt",
    }


def test_cuda_without_tensorrt_request_skips_it() -> None:
    providers = select_providers(RuntimeOptions(device="cuda:0"), [TENSORRT, CUDA, CPU])
    assert [name for name, _ in providers] == [CUDA, CPU]


def test_missing_tensorrt_warns_and_keeps_cuda(caplog: pytest.LogCaptureFixture) -> None:
    options = RuntimeOptions(device="cuda:0", use_tensorrt=True)
    with caplog.at_level(logging.WARNING):
        providers = select_providers(options, [CUDA, CPU])
    assert [name for name, _ in providers] == [CUDA, CPU]
    assert TENSORRT in caplog.text


def test_cuda_without_cuda_provider_refuses_to_fall_back() -> None:
    with pytest.raises(ModelError, match="onnxruntime-gpu"):
        select_providers(RuntimeOptions(device="cuda:0"), ["AzureExecutionProvider", CPU])


@pytest.mark.parametrize(("model_format", "device", "openvino", "expected"), [
    ("onnx", "cpu", True, "openvino"),
    ("paddle", "cpu", True, "openvino"),
    ("onnx", "cpu", False, "onnxruntime"),
    ("paddle", "cpu", False, "paddle"),
    ("onnx", "cuda:0", True, "onnxruntime"),
    ("paddle", "cuda:1", True, "paddle"),
])
def test_auto_takes_openvino_on_a_cpu_when_installed(
    model_format: str, device: str, openvino: bool, expected: str
) -> None:
    assert resolve_backend("auto", model_format, device, openvino) == expected


def test_a_named_backend_is_kept() -> None:
    assert resolve_backend("onnxruntime", "onnx", "cpu", True) == "onnxruntime"


def test_openvino_pins_what_decides_results() -> None:
    pytest.importorskip("openvino")
    from ocrserve.runtimes.openvino import compile_config

    config = compile_config(RuntimeOptions(cpu_threads=4, cpu_streams=2, shape_cache_size=7))
    # f32 whatever the CPU offers (the plugin would pick bf16 on AMX/AVX512_BF16 CPUs).
    assert config["INFERENCE_PRECISION_HINT"] == "f32"
    assert config["NUM_STREAMS"] == "2" and config["INFERENCE_NUM_THREADS"] == "4"
    assert config["CPU_RUNTIME_CACHE_CAPACITY"] == "7"
    assert compile_config(RuntimeOptions(precision="fp16"))["INFERENCE_PRECISION_HINT"] == "f16"


def test_openvino_refuses_a_precision_the_cpu_would_not_run() -> None:
    """The CPU plugin takes f16 as a hint: without f16 arithmetic it runs bf16 or f32."""
    pytest.importorskip("openvino")
    from ocrserve.runtimes.openvino import check_precision

    check_precision("f32", "fp32")
    check_precision("f16", "fp16")
    for runs in ("bf16", "f32"):
        with pytest.raises(ModelError, match=f"runs the model in {runs}, not f16"):
            check_precision(runs, "fp16")
    with pytest.raises(ModelError, match="in bf16, not f32"):
        check_precision("bf16", "fp32")
