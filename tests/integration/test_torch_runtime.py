"""The torch backend (runtimes/torch.py, onnx_graph.py) against onnxruntime on every ONNX
model of the repository, in the engine's pipeline, and on CUDA where there is a GPU
(those tests skip cleanly without one)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import numpy as np
import pytest

from ocrserve.errors import ModelError
from ocrserve.runtimes import RuntimeOptions, load_runtime

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = Path(os.environ.get("OCR_MODEL_REPOSITORY", ROOT / "models"))
OPTIONS = RuntimeOptions(device="cpu", cpu_threads=2)
#: Every ONNX model of the default set, with two batch shapes each (the engine's buckets).
CASES = {
    "ch_PP-OCRv2_det/1": [(1, 3, 544, 960), (2, 3, 320, 320)],
    "ch_ppocr_mobile_v2.0_cls/1": [(6, 3, 48, 192), (1, 3, 48, 192)],
    "ch_PP-OCRv2_rec/1": [(6, 3, 32, 320), (3, 3, 32, 96)],
}
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def batch(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


@pytest.mark.parametrize("model", sorted(CASES))
def test_outputs_match_onnxruntime_on_every_model(model: str) -> None:
    folder = REPOSITORY / model
    reference = load_runtime("onnxruntime", folder, "onnx", OPTIONS)
    runtime = load_runtime("torch", folder, "onnx", OPTIONS)
    assert runtime.backend == "torch" and runtime.input_shape[1] == 3
    for shape in CASES[model]:
        x = batch(shape)
        expected = reference.run(x)
        got = runtime.run(x)
        assert got.shape == expected.shape and got.dtype == np.float32
        assert float(np.abs(got - expected).max()) < 1e-4, (model, shape)
        again = runtime.run(batch(shape, seed=1))  # the planned shape, other data
        assert float(np.abs(again - reference.run(batch(shape, seed=1))).max()) < 1e-4
    runtime.close()


def test_the_detector_matches_on_a_real_page(sign: Path) -> None:
    """Random inputs hid a real difference once (ONNX's nearest Resize rounds half down,
    torch's floors: at a scale of 4 that moves rows); a real page shows it."""
    import cv2

    from ocrclient.proto.ocr.v1 import ocr_pb2 as pb
    from ocrserve.frontend import convert
    from ocrserve.ops import det as det_ops
    from ocrserve.settings import Settings

    params = convert.det_params(pb.DetectionParams(), Settings())
    tensor, _ = det_ops.det_preprocess(cv2.imread(str(sign)), params)
    folder = REPOSITORY / "ch_PP-OCRv2_det/1"
    expected = load_runtime("onnxruntime", folder, "onnx", OPTIONS).run(tensor[None])
    got = load_runtime("torch", folder, "onnx", OPTIONS).run(tensor[None])
    assert float(np.abs(got - expected).max()) < 1e-4


def test_static_values_are_planned_once_per_shape() -> None:
    runtime = load_runtime("torch", REPOSITORY / "ch_PP-OCRv2_rec/1", "onnx", OPTIONS)
    graph = runtime._graph  # type: ignore[attr-defined]
    runtime.run(batch((2, 3, 32, 320)))
    runtime.run(batch((2, 3, 32, 320), seed=3))
    runtime.run(batch((1, 3, 32, 160)))
    assert graph.planned_shapes == [(2, 3, 32, 320), (1, 3, 32, 160)]


def test_refusals_are_clear() -> None:
    with pytest.raises(ModelError, match=r"model file missing: .*inference\.pdmodel"):
        load_runtime("torch", REPOSITORY / "ch_PP-OCRv2_rec/1", "paddle", OPTIONS)
    with pytest.raises(ModelError, match="fp32 only"):
        load_runtime("torch", REPOSITORY / "ch_PP-OCRv2_rec/1", "onnx",
                     RuntimeOptions(device="cpu", precision="fp16"))
    runtime = load_runtime("torch", REPOSITORY / "ch_ppocr_mobile_v2.0_cls/1", "onnx", OPTIONS)
    runtime.close()
    with pytest.raises(Exception, match="closed"):
        runtime.run(batch((1, 3, 48, 192)))


def test_the_pipeline_reads_the_same_text_on_torch_as_on_onnxruntime(sign: Path) -> None:
    import cv2

    from ocrclient.proto.ocr.v1 import ocr_pb2 as pb
    from ocrserve.engine.engine import Engine
    from ocrserve.frontend import convert
    from ocrserve.pipeline import Pipeline
    from ocrserve.settings import Settings

    image = cv2.imread(str(sign))
    slots = ("det=ch_PP-OCRv2_det", "cls=ch_ppocr_mobile_v2.0_cls@onnx", "rec=ch_PP-OCRv2_rec")

    async def read(backend: str) -> list[tuple[str, float]]:
        settings = Settings(backend=backend, slot=slots, model_repository=str(REPOSITORY))
        engine = Engine.from_settings(settings)
        await engine.start()
        try:
            params = convert.ocr_params(settings, pb.DetectionParams(),
                                        pb.ClassificationParams(), pb.RecognitionParams(), None)
            lines = (await Pipeline(engine).ocr(image, params)).value
            return [(line.text, line.score) for line in lines]
        finally:
            await engine.close()

    on_torch, on_onnxruntime = asyncio.run(read("torch")), asyncio.run(read("onnxruntime"))
    assert [t for t, _ in on_torch] == [t for t, _ in on_onnxruntime] and on_torch
    assert [s for _, s in on_torch] == pytest.approx([s for _, s in on_onnxruntime], abs=1e-4)


@needs_cuda
@pytest.mark.parametrize("model", sorted(CASES))
def test_cuda_graphs_replay_what_the_cpu_computes(model: str) -> None:
    folder = REPOSITORY / model
    cpu = load_runtime("torch", folder, "onnx", OPTIONS)
    cuda = load_runtime("torch", folder, "onnx", RuntimeOptions(device="cuda:0"))
    for shape in CASES[model]:
        for seed in (0, 1):  # the first run captures, the second replays
            x = batch(shape, seed)
            assert float(np.abs(cuda.run(x) - cpu.run(x)).max()) < 1e-4, (model, shape)


@needs_cuda
def test_shapes_beyond_the_captured_ones_run_eagerly_with_the_same_results() -> None:
    folder = REPOSITORY / "ch_PP-OCRv2_rec/1"
    cpu = load_runtime("torch", folder, "onnx", OPTIONS)
    cuda = load_runtime("torch", folder, "onnx", RuntimeOptions(device="cuda:0",
                                                                 shape_cache_size=1))
    for shape in [(6, 3, 32, 320), (3, 3, 32, 96), (6, 3, 32, 320)]:
        x = batch(shape)
        assert float(np.abs(cuda.run(x) - cpu.run(x)).max()) < 1e-4, shape
    assert list(cuda._captured) == [(6, 3, 32, 320)]  # type: ignore[attr-defined]
