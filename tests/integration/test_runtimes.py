"""Every backend on the real PaddleOCR models from the model repository.

The repository is found at ``$OCR_MODEL_REPOSITORY`` (default: ``models/`` at
the project root, filled by ``ocr-models install-defaults``); the tests skip
only when it does not exist.  Paddle and OpenVINO tests skip when their
package (an optional extra) is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from ocrserve.errors import FailedPrecondition, InvalidInput, ModelError
from ocrserve.runtimes import Runtime, RuntimeOptions, load_runtime
from ocrserve.runtimes.base import ShapeRange

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = Path(os.environ.get("OCR_MODEL_REPOSITORY", ROOT / "models"))
OPTIONS = RuntimeOptions(device="cpu", cpu_threads=2)

DET_V2 = "ch_PP-OCRv2_det"
REC_V2 = "ch_PP-OCRv2_rec"
DET_V4 = "ch_PP-OCRv4_det"
CLS = "ch_ppocr_mobile_v2.0_cls"

needs_paddle = pytest.mark.skipif(
    importlib.util.find_spec("paddle") is None, reason="paddlepaddle is not installed"
)
needs_openvino = pytest.mark.skipif(
    importlib.util.find_spec("openvino") is None, reason="openvino is not installed"
)
#: The backend each format's fixtures use: the format's own runtime.
NATIVE = {"onnx": "onnxruntime", "paddle": "paddle"}


def model_dir(name: str, model_format: str) -> Path:
    """The installed version folder of ``name`` in ``model_format``."""
    if not REPOSITORY.is_dir():
        pytest.skip(
            f"no model repository at {REPOSITORY}: run `ocr-models install-defaults` "
            "or set OCR_MODEL_REPOSITORY"
        )
    for manifest in sorted(REPOSITORY.glob(f"{name}/*/manifest.json")):
        if json.loads(manifest.read_text())["format"] == model_format:
            return manifest.parent
    pytest.fail(f"{name} ({model_format}) is not installed in {REPOSITORY}")


def load(name: str, model_format: str, backend: str | None = None) -> Iterator[Runtime]:
    runtime = load_runtime(backend or NATIVE[model_format], model_dir(name, model_format),
                           model_format, OPTIONS)
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def det_v2_onnx() -> Iterator[Runtime]:
    yield from load(DET_V2, "onnx")


@pytest.fixture(scope="module")
def rec_v2_onnx() -> Iterator[Runtime]:
    yield from load(REC_V2, "onnx")


@pytest.fixture(scope="module")
def cls_onnx() -> Iterator[Runtime]:
    yield from load(CLS, "onnx")


@pytest.fixture(scope="module")
def cls_paddle() -> Iterator[Runtime]:
    yield from load(CLS, "paddle")


def random_batch(*shape: int) -> np.ndarray:
    return np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)


def det_input_with_text(size: int) -> tuple[np.ndarray, slice]:
    """A white square with one line of black text, normalised as PaddleOCR's
    det preprocessing does; also the rows the text occupies."""
    image = np.full((size, size, 3), 255, dtype=np.uint8)
    cv2.putText(image, "OCR serve 2024", (40, 340), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (0, 0, 0), 4)
    mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)
    std = np.array([0.229, 0.224, 0.225], dtype=np.float32)
    chw = ((image.astype(np.float32) / 255 - mean) / std).transpose(2, 0, 1)
    return chw[None].copy(), slice(290, 360)


def test_onnx_reports_declared_shapes(det_v2_onnx: Runtime, rec_v2_onnx: Runtime) -> None:
    assert det_v2_onnx.backend == "onnxruntime"
    assert det_v2_onnx.input_shape == (None, 3, None, None)
    assert rec_v2_onnx.output_shape[-1] == 6625


def test_det_v2_onnx_finds_the_text_line(det_v2_onnx: Runtime) -> None:
    batch, text_rows = det_input_with_text(640)
    probs = det_v2_onnx.run(batch)
    assert probs.shape == (1, 1, 640, 640)
    assert probs.dtype == np.float32
    assert probs.flags.c_contiguous
    assert probs.min() >= 0.0 and probs.max() <= 1.0
    assert probs[0, 0, text_rows].max() > 0.9
    background = np.delete(probs[0, 0], np.r_[text_rows], axis=0)
    assert background.max() < 0.3


def test_rec_v2_onnx_gives_softmax_rows(rec_v2_onnx: Runtime) -> None:
    probs = rec_v2_onnx.run(random_batch(1, 3, 32, 320))
    assert probs.shape == (1, 80, 6625)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-4)


@needs_paddle
def test_paddle_reports_shapes_from_the_program(cls_paddle: Runtime) -> None:
    assert cls_paddle.backend == "paddle"
    assert cls_paddle.input_shape == (None, 3, None, None)
    assert cls_paddle.output_shape == (None, 2)


@needs_paddle
def test_cls_paddle_and_onnx_agree(cls_paddle: Runtime, cls_onnx: Runtime) -> None:
    batch = random_batch(4, 3, 48, 192)
    paddle_probs = cls_paddle.run(batch)
    assert paddle_probs.shape == (4, 2)
    np.testing.assert_allclose(paddle_probs, cls_onnx.run(batch), atol=1e-4)


@needs_paddle
def test_det_v4_paddle_runs_at_two_shapes() -> None:
    for runtime in load(DET_V4, "paddle"):
        for shape in [(1, 3, 320, 480), (2, 3, 640, 320)]:
            probs = runtime.run(random_batch(*shape))
            assert probs.shape == (shape[0], 1, *shape[2:])
            assert probs.min() >= 0.0 and probs.max() <= 1.0
        with pytest.raises(ModelError, match="paddle inference failed"):
            runtime.run(random_batch(1, 3, 50, 50))


def test_non_contiguous_batch_gives_the_same_result(cls_onnx: Runtime) -> None:
    batch = random_batch(2, 3, 48, 384)
    strided = batch[:, :, :, ::2]
    np.testing.assert_array_equal(cls_onnx.run(strided), cls_onnx.run(strided.copy()))


@pytest.mark.parametrize(
    "batch",
    [
        random_batch(1, 3, 48, 192).astype(np.float64),
        random_batch(3, 48, 192),
        random_batch(1, 1, 48, 192),
    ],
    ids=["float64", "3-D", "one-channel"],
)
def test_contract_violations_are_invalid_input(cls_onnx: Runtime, batch: np.ndarray) -> None:
    with pytest.raises(InvalidInput):
        cls_onnx.run(batch)


def test_library_failure_is_a_model_error(det_v2_onnx: Runtime) -> None:
    # Not a multiple of 32: the FPN's upsampled maps no longer line up.
    with pytest.raises(ModelError, match="onnxruntime inference failed"):
        det_v2_onnx.run(random_batch(1, 3, 50, 50))


@pytest.mark.parametrize(
    ("model_format", "missing"), [("onnx", "model.onnx"), ("paddle", "inference.pdmodel")]
)
def test_empty_folder_names_the_missing_file(
    tmp_path: Path, model_format: str, missing: str
) -> None:
    if model_format == "paddle" and importlib.util.find_spec("paddle") is None:
        pytest.skip("paddlepaddle is not installed")
    with pytest.raises(ModelError, match=str(tmp_path / missing)):
        load_runtime(NATIVE[model_format], tmp_path, model_format, OPTIONS)


@pytest.mark.parametrize(
    ("model_format", "files"),
    [("onnx", ["model.onnx"]), ("paddle", ["inference.pdmodel", "inference.pdiparams"])],
)
def test_corrupt_files_are_model_errors(
    tmp_path: Path, model_format: str, files: list[str]
) -> None:
    if model_format == "paddle" and importlib.util.find_spec("paddle") is None:
        pytest.skip("paddlepaddle is not installed")
    for name in files:
        (tmp_path / name).write_bytes(np.random.default_rng(1).bytes(4096))
    with pytest.raises(ModelError, match=files[0]) as info:
        load_runtime(NATIVE[model_format], tmp_path, model_format, OPTIONS)
    # the library's text and the server's paths go to the log, not to callers
    assert str(tmp_path) not in info.value.message and "Error" not in info.value.message


@needs_paddle
def test_truncated_paddle_params_are_a_model_error(tmp_path: Path) -> None:
    source = model_dir(CLS, "paddle")
    (tmp_path / "inference.pdmodel").write_bytes((source / "inference.pdmodel").read_bytes())
    (tmp_path / "inference.pdiparams").write_bytes(
        (source / "inference.pdiparams").read_bytes()[:1000]
    )
    with pytest.raises(ModelError, match="paddle could not load"):
        load_runtime("paddle", tmp_path, "paddle", OPTIONS)


def test_backend_refuses_another_format() -> None:
    with pytest.raises(ModelError, match="runs 'onnx' models, not 'paddle'"):
        load_runtime("onnxruntime", model_dir(CLS, "onnx"), "paddle", OPTIONS)


def test_run_after_close_fails() -> None:
    for runtime in load(CLS, "onnx"):
        runtime.close()
        runtime.close()  # idempotent
        with pytest.raises(FailedPrecondition):
            runtime.run(random_batch(1, 3, 48, 192))


# --- OpenVINO: both formats, checked against the format's own runtime.

# (model, format, input batch shape, largest allowed difference to the native runtime):
# differences measured 2026-12-02 were 1e-7 (det), 4e-6 (rec) and 7e-7 (cls).
OPENVINO_CASES = [
    (DET_V2, "onnx", (1, 3, 320, 480), 1e-4),
    (REC_V2, "onnx", (3, 3, 32, 320), 1e-4),
    (CLS, "onnx", (4, 3, 48, 192), 1e-4),
    (CLS, "paddle", (4, 3, 48, 192), 1e-4),
    (DET_V4, "paddle", (2, 3, 320, 320), 1e-4),
]


@needs_openvino
@pytest.mark.parametrize(("name", "model_format", "shape", "atol"), OPENVINO_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in OPENVINO_CASES])
def test_openvino_matches_the_native_runtime(
    name: str, model_format: str, shape: tuple[int, ...], atol: float
) -> None:
    if model_format == "paddle" and importlib.util.find_spec("paddle") is None:
        pytest.skip("paddlepaddle is not installed (the reference for this case)")
    batch = random_batch(*shape)
    for openvino in load(name, model_format, "openvino"):
        assert openvino.backend == "openvino"
        assert openvino.shape_specialized
        for native in load(name, model_format):
            assert openvino.input_shape == native.input_shape
            expected = native.run(batch)
            got = openvino.run(batch)
            assert got.shape == expected.shape
            assert got.dtype == np.float32 and got.flags.c_contiguous
            np.testing.assert_allclose(got, expected, atol=atol)


@needs_openvino
def test_openvino_streams_split_a_batch_without_changing_it() -> None:
    batch = random_batch(5, 3, 48, 192)
    streamed = RuntimeOptions(device="cpu", cpu_threads=2, cpu_streams=2)
    one = load_runtime("openvino", model_dir(CLS, "onnx"), "onnx", OPTIONS)
    two = load_runtime("openvino", model_dir(CLS, "onnx"), "onnx", streamed)
    np.testing.assert_allclose(two.run(batch), one.run(batch), atol=1e-6)
    assert two.run(batch[:1]).shape == (1, 2)  # fewer items than streams


@needs_openvino
def test_openvino_failures_are_model_errors(tmp_path: Path) -> None:
    for runtime in load(DET_V2, "onnx", "openvino"):
        with pytest.raises(ModelError, match="openvino inference failed"):
            runtime.run(random_batch(1, 3, 50, 50))
        runtime.close()
        with pytest.raises(FailedPrecondition):
            runtime.run(random_batch(1, 3, 64, 64))
    (tmp_path / "model.onnx").write_bytes(np.random.default_rng(1).bytes(4096))
    with pytest.raises(ModelError, match="openvino could not read"):
        load_runtime("openvino", tmp_path, "onnx", OPTIONS)
    (tmp_path / "inference.pdmodel").write_bytes(np.random.default_rng(2).bytes(4096))
    with pytest.raises(ModelError, match="openvino could not read"):
        load_runtime("openvino", tmp_path, "paddle", OPTIONS)
    with pytest.raises(ModelError, match="CPU only"):
        load_runtime("openvino", model_dir(CLS, "onnx"), "onnx",
                     RuntimeOptions(device="cuda:0"))


def _rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


@needs_openvino
def test_openvino_gives_back_the_memory_of_an_oversized_input() -> None:
    small = random_batch(1, 3, 320, 320)
    for runtime in load(DET_V2, "onnx", "openvino"):
        expected = runtime.run(small)
        runtime.release_memory()  # nothing oversized yet: a no-op
        before = _rss_mb()
        runtime.run(np.zeros((2, 3, 2048, 2048), np.float32))
        grown = _rss_mb()
        runtime.release_memory()
        assert grown - before > 300  # the compiled model kept the large input's memory
        assert _rss_mb() - before < 100
        np.testing.assert_array_equal(runtime.run(small), expected)


@needs_openvino
def test_openvino_runs_a_batch_of_oversized_items_one_at_a_time() -> None:
    """Its memory is one item's, not the batch's, and its output the batch's."""
    one_page = random_batch(1, 3, 2048, 2048)
    pages = np.concatenate([one_page, np.zeros_like(one_page), one_page])
    for runtime in load(DET_V2, "onnx", "openvino"):
        before = _rss_mb()
        expected = runtime.run(one_page)
        one = _rss_mb() - before
        runtime.release_memory()
        before = _rss_mb()
        got = runtime.run(pages)
        three = _rss_mb() - before
        assert one > 300 and three < 1.5 * one, (one, three)
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[2], expected[0])


@needs_openvino
def test_openvino_compiles_the_shapes_that_come_back_on_their_own() -> None:
    """A page size seen twice gets a model of its own for one page (same bits as the
    dynamic model), and a batch of such pages runs page by page on it;
    ``static_shapes`` of them at most (runtimes/static_shapes.py chooses); one-off
    shapes, large pages and streamed runtimes stay on the dynamic model."""
    from ocrserve.runtimes.openvino import OpenVinoRuntime

    directory = model_dir(DET_V2, "onnx")
    dynamic = load_runtime("openvino", directory, "onnx", OPTIONS)
    static = load_runtime("openvino", directory, "onnx",
                          RuntimeOptions(device="cpu", cpu_threads=2, static_shapes=2))
    assert isinstance(static, OpenVinoRuntime)
    a, b, c = random_batch(1, 3, 64, 96), random_batch(1, 3, 96, 64), random_batch(3, 3, 64, 64)
    np.testing.assert_array_equal(static.run(a), dynamic.run(a))
    assert static.static_shapes == []  # seen once: a one-off so far
    np.testing.assert_array_equal(static.run(a), dynamic.run(a))
    assert static.static_shapes == [a.shape]
    for batch in (c, c, b, b):
        np.testing.assert_array_equal(static.run(batch), dynamic.run(batch))
    # c's pages, one by one on the model of one 64x64 page; b came no more often: no room
    assert static.static_shapes == [a.shape, (1, 3, 64, 64)]
    large = np.zeros((1, 3, 1312, 1312), np.float32)  # 20 MB a page
    static.run(large)
    static.run(large)
    assert large.shape not in static.static_shapes
    streamed = load_runtime("openvino", directory, "onnx", RuntimeOptions(
        device="cpu", cpu_threads=2, cpu_streams=2, static_shapes=2))
    assert isinstance(streamed, OpenVinoRuntime)
    for _ in range(3):
        streamed.run(a)
    assert streamed.static_shapes == []
    for runtime in (dynamic, static, streamed):
        runtime.close()
    with pytest.raises(FailedPrecondition):
        static.run(a)


@needs_openvino
def test_openvino_pads_classifier_batches_to_the_sizes_it_compiled() -> None:
    """Where only the batch size varies (the angle classifier), a batch runs on the static
    model of the next power of two, at most the largest batch the engine sends: a few
    models serve every size, and the zero items added change no other item's output.
    A recognizer's width varies too, so its batches are never padded: they run item by
    item, as the detector's do (the engine gives recognizers no static models)."""
    from ocrserve.runtimes.openvino import OpenVinoRuntime

    cases = [(CLS, (3, 48, 192), 3, 24, (3, 4, 3, 17, 20, 24, 1),
              # 3 and 4 share the model of 4; 17, 20 and 24 that of 24 (the largest), not 32
              [(4, 3, 48, 192), (24, 3, 48, 192)]),
             (REC_V2, (3, 32, 320), 2, 6, (3, 3), [(1, 3, 32, 320)])]
    for name, item, static_shapes, largest, sizes, kept in cases:
        directory = model_dir(name, "onnx")
        dynamic = load_runtime("openvino", directory, "onnx", OPTIONS)
        widest = (largest, *item[:2], item[2] if name == CLS else 3200)
        padded = load_runtime("openvino", directory, "onnx", RuntimeOptions(
            device="cpu", cpu_threads=2, static_shapes=static_shapes,
            input_range=ShapeRange((1, *item), (largest, *item), widest)))
        assert isinstance(padded, OpenVinoRuntime)
        for n in sizes:
            batch = random_batch(n, *item)
            out = padded.run(batch)
            assert out.shape[0] == n
            np.testing.assert_array_equal(out, dynamic.run(batch))
        assert padded.static_shapes == kept
        dynamic.close()
        padded.close()


@needs_openvino
def test_openvino_loads_fp16_only_where_the_cpu_runs_it() -> None:
    """What this CPU runs for an f16 hint, asked of OpenVINO directly, decides whether a
    precision=fp16 slot loads or is refused (no silent bf16 or f32 instead)."""
    import openvino as ov

    directory = model_dir(CLS, "onnx")
    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(directory / "model.onnx")), "CPU",
                                  {"INFERENCE_PRECISION_HINT": "f16"})
    runs = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
    options = RuntimeOptions(device="cpu", cpu_threads=2, precision="fp16")
    if runs == "f16":
        load_runtime("openvino", directory, "onnx", options).close()
    else:
        with pytest.raises(ModelError, match=f"runs the model in {runs}"):
            load_runtime("openvino", directory, "onnx", options)


@needs_paddle
def test_paddle_takes_the_tensorrt_shape_range() -> None:
    """set_trt_dynamic_shape_info runs on a CPU build too: the arguments the GPU path
    passes are the ones a real Config accepts."""
    import paddle.inference as paddle_infer

    from ocrserve.runtimes.base import ShapeRange
    from ocrserve.runtimes.paddle import trt_shape_info

    shapes = ShapeRange((1, 3, 32, 32), (4, 3, 960, 960), (4, 3, 4096, 4096))
    low, high, opt = trt_shape_info("x", shapes)
    assert (low, high, opt) == ({"x": [1, 3, 32, 32]}, {"x": [4, 3, 4096, 4096]},
                                {"x": [4, 3, 960, 960]})
    config = paddle_infer.Config()
    config.set_trt_dynamic_shape_info(low, high, opt)
    assert config.tensorrt_dynamic_shape_enabled()


@needs_paddle
def test_paddle_without_cuda_refuses_a_gpu_instead_of_using_the_cpu() -> None:
    import paddle

    if paddle.device.is_compiled_with_cuda():
        pytest.skip("this paddlepaddle has CUDA")
    options = RuntimeOptions(device="cuda:0")
    with pytest.raises(ModelError, match="paddlepaddle-gpu"):
        load_runtime("paddle", model_dir(CLS, "paddle"), "paddle", options)
