"""The torch backend (runtimes/torch.py, onnx_graph.py) against onnxruntime on every ONNX
model of the repository, in the engine's pipeline, and on CUDA where there is a GPU
(those tests skip cleanly without one)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ocrserve.errors import InvalidInput, ModelError
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
FP16 = RuntimeOptions(device="cpu", cpu_threads=2, precision="fp16")
#: precision=fp16 against onnxruntime fp32, largest |difference| on random inputs: measured
#: 9e-8 (det: random inputs give probabilities near 0), 4.1e-3 (cls) and 1.5e-2 (rec) over
#: three seeds at CASES' shapes; the bounds leave about 3x.
#: det's random-input figure says little: the real page test holds det.
FP16_BOUNDS = {"ch_PP-OCRv2_det/1": 1e-3, "ch_ppocr_mobile_v2.0_cls/1": 1.5e-2,
               "ch_PP-OCRv2_rec/1": 5e-2}
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
    tensor, _ = _det_input(sign)
    folder = REPOSITORY / "ch_PP-OCRv2_det/1"
    expected = load_runtime("onnxruntime", folder, "onnx", OPTIONS).run(tensor[None])
    got = load_runtime("torch", folder, "onnx", OPTIONS).run(tensor[None])
    assert float(np.abs(got - expected).max()) < 1e-4


@pytest.mark.parametrize("model", ["ch_ppocr_mobile_v2.0_cls/1", "ch_PP-OCRv2_rec/1"])
def test_fp16_outputs_stay_near_onnxruntime_on_every_model(model: str) -> None:
    folder = REPOSITORY / model
    reference = load_runtime("onnxruntime", folder, "onnx", OPTIONS)
    runtime = load_runtime("torch", folder, "onnx", FP16)
    shape = CASES[model][-1]  # the smaller one: CPUs compute float16 slowly
    x = batch(shape)
    got, expected = runtime.run(x), reference.run(x)
    assert got.dtype == np.float32 and got.shape == expected.shape
    assert float(np.abs(got - expected).max()) < FP16_BOUNDS[model], (model, shape)


def test_fp16_detector_stays_near_on_a_real_page(sign: Path) -> None:
    """Measured on this page: max |difference| 0.078 (at a few pixels on the edge of a text
    region, where the probability climbs from 0 to 1 within a pixel), mean 3.5e-5.  Without
    folding batch norms into convolutions the head overflowed float16 (NaN)."""
    folder = REPOSITORY / "ch_PP-OCRv2_det/1"
    tensor, _ = _det_input(sign)
    expected = load_runtime("onnxruntime", folder, "onnx", OPTIONS).run(tensor[None])
    got = load_runtime("torch", folder, "onnx", FP16).run(tensor[None])
    difference = np.abs(got - expected)
    assert float(difference.max()) < 0.2 and float(difference.mean()) < 5e-4


def test_fp16_recognizer_keeps_the_argmax_on_real_crops(sign: Path) -> None:
    """Per time step, the class fp16 picks is fp32's wherever fp32's top two are 0.2 or
    more apart.  Measured over 71 real crops (4 pages): 11 of 10,402 steps flip, all where
    fp32's top two are within 0.094; Softmax in float32 flipped the same 11 (the logits
    decide), so it runs in the working dtype."""
    import cv2

    from ocrserve.ops import det as det_ops
    from ocrserve.ops.geometry import crop_quad
    from ocrserve.ops.rec import rec_input, rec_normalize

    image = cv2.imread(str(sign))
    tensor, shape_info = _det_input(sign)
    det = load_runtime("onnxruntime", REPOSITORY / "ch_PP-OCRv2_det/1", "onnx", OPTIONS)
    boxes, _ = det_ops.db_postprocess(det.run(tensor[None])[0, 0], shape_info, _det_params())
    crops = [crop_quad(image, box.astype(np.float32)) for box in boxes]
    assert len(crops) >= 5
    width = max(320, int(np.ceil(32 * max(c.shape[1] / c.shape[0] for c in crops))))
    x = np.stack([rec_normalize(rec_input(c, 32, width)) for c in crops])
    folder = REPOSITORY / "ch_PP-OCRv2_rec/1"
    expected = load_runtime("onnxruntime", folder, "onnx", OPTIONS).run(x)
    got = load_runtime("torch", folder, "onnx", FP16).run(x)
    top_two = np.sort(expected, axis=-1)[..., -2:]
    clear = top_two[..., 1] - top_two[..., 0] >= 0.2
    assert clear.mean() > 0.98
    assert (got.argmax(-1) == expected.argmax(-1))[clear].all()


def _det_params() -> Any:
    from ocrclient.proto.ocr.v1 import ocr_pb2 as pb
    from ocrserve.frontend import convert
    from ocrserve.settings import Settings

    return convert.det_params(pb.DetectionParams(), Settings())


def _det_input(page: Path) -> tuple[np.ndarray, Any]:
    """The detector's input for ``page`` as the pipeline prepares it, and its shape info."""
    import cv2

    from ocrserve.ops import det as det_ops

    return det_ops.det_preprocess(cv2.imread(str(page)), _det_params())


def test_the_device_lookup_gives_the_hosts_bits() -> None:
    """lookup_nchw (the normalisation the torch runtime runs on its device) against the
    host's cv2.LUT path, compared as raw float32 bits, on every uint8 value."""
    from ocrserve.ops.det import DET_TABLES, det_normalize
    from ocrserve.runtimes.torch import lookup_nchw

    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (2, 64, 96, 3), dtype=np.uint8)
    images[0, 0, :, :] = np.arange(256, dtype=np.uint8)[:96, None]  # every value appears
    images[1, 0, :, :] = np.arange(160, 256, dtype=np.uint8)[:, None]
    tables = torch.from_numpy(DET_TABLES.reshape(-1))
    offsets = torch.arange(3, dtype=torch.int64) * DET_TABLES.shape[1]
    got = lookup_nchw(torch.from_numpy(images), tables, offsets).numpy()
    expected = np.stack([det_normalize(image) for image in images])
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32))


def test_the_device_lookup_of_marked_crops_gives_the_hosts_bits() -> None:
    """With a fourth channel (the padding mark of ops.rec.rec_input), lookup_nchw gives
    rec_normalize's bits: the crop's samples looked up, 0.0 wherever the mark is 0."""
    from ocrserve.ops.rec import CROP, REC_TABLES, rec_normalize
    from ocrserve.runtimes.torch import lookup_nchw

    rng = np.random.default_rng(6)
    items = rng.integers(0, 256, (3, 32, 320, 4), dtype=np.uint8)
    items[..., 3] = CROP
    items[0, :, 200:] = 0  # padding as rec_input leaves it
    items[1, :, 250:, 3] = 0  # samples that are not 0 but unmarked
    items[2, 0, :256, 0] = np.arange(256, dtype=np.uint8)  # every value appears
    tables = torch.from_numpy(REC_TABLES.reshape(-1))
    offsets = torch.arange(3, dtype=torch.int64) * REC_TABLES.shape[1]
    got = lookup_nchw(torch.from_numpy(items), tables, offsets).numpy()
    expected = np.stack([rec_normalize(item) for item in items])
    np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32))


def test_marked_crops_in_give_the_recognizer_output_tensors_in_give(sign: Path) -> None:
    """The recognizer on a batch of uint8 crops (padding marked) equals it on the same
    crops normalised on the host, on real lines of a page."""
    from ocrserve.engine.shapes import RecShaper
    from ocrserve.ops.rec import REC_TABLES

    items = _sign_line_items(sign)
    runtime = load_runtime("torch", REPOSITORY / "ch_PP-OCRv2_rec/1", "onnx", OPTIONS)
    from_tensor = runtime.run(RecShaper(32).assemble(items))
    assert runtime.accept_images(REC_TABLES)
    from_images = runtime.run(RecShaper(32, images_to_runtime=True).assemble(items))
    np.testing.assert_array_equal(from_images, from_tensor)


def test_the_recognizer_reduces_on_its_device_to_the_hosts_bits(sign: Path) -> None:
    """reduce_classes: (argmax, max) per step from the runtime equal the host's reduction
    of the whole output (engine.shapes.best_class), on real lines of a page."""
    from ocrserve.engine.shapes import RecShaper, best_class

    items = _sign_line_items(sign)
    runtime = load_runtime("torch", REPOSITORY / "ch_PP-OCRv2_rec/1", "onnx", OPTIONS)
    x = RecShaper(32).assemble(items)
    whole = runtime.run(x)
    assert whole.shape[-1] == 6625
    assert runtime.reduce_classes()
    np.testing.assert_array_equal(runtime.run(x), best_class(whole))


def test_the_device_reduction_takes_the_first_of_equal_maxima_as_numpy() -> None:
    from ocrserve.engine.shapes import best_class as host_best_class
    from ocrserve.runtimes.torch import best_class

    output = np.random.default_rng(3).integers(0, 4, (5, 7, 9)).astype(np.float32)
    assert (np.sort(output, axis=-1)[..., -1] == np.sort(output, axis=-1)[..., -2]).any()
    np.testing.assert_array_equal(best_class(torch.from_numpy(output)).numpy(),
                                  host_best_class(output))


def _sign_line_items(sign: Path) -> list[np.ndarray]:
    """The first six text lines of the sign as marked uint8 recognizer items, 416 wide."""
    import cv2

    from ocrserve.ops import det as det_ops
    from ocrserve.ops.geometry import crop_quad
    from ocrserve.ops.rec import rec_input

    image = cv2.imread(str(sign))
    tensor, shape_info = _det_input(sign)
    det = load_runtime("onnxruntime", REPOSITORY / "ch_PP-OCRv2_det/1", "onnx", OPTIONS)
    boxes, _ = det_ops.db_postprocess(det.run(tensor[None])[0, 0], shape_info, _det_params())
    return [rec_input(crop_quad(image, box.astype(np.float32)), 32, 416) for box in boxes[:6]]


def test_images_in_give_the_detector_output_tensors_in_give(sign: Path) -> None:
    """A runtime that accepted images computes the same map from the uint8 page as from
    the host-normalised tensor (the model's input is the same bits), and refuses images
    before it accepted them; the other backends decline."""
    import cv2

    from ocrserve.ops import det as det_ops

    folder = REPOSITORY / "ch_PP-OCRv2_det/1"
    page, _ = det_ops.det_prepare(cv2.imread(str(sign)), _det_params())
    runtime = load_runtime("torch", folder, "onnx", OPTIONS)
    with pytest.raises(InvalidInput, match="float32"):
        runtime.run(page[None])
    assert runtime.accept_images(det_ops.DET_TABLES)
    from_tensor = runtime.run(det_ops.det_normalize(page)[None])
    np.testing.assert_array_equal(runtime.run(page[None]), from_tensor)
    with pytest.raises(InvalidInput, match="dimension 1 must be 3"):
        runtime.run(np.zeros((1, 64, 64, 5), np.uint8))
    assert not load_runtime("onnxruntime", folder, "onnx", OPTIONS).accept_images(
        det_ops.DET_TABLES)


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
            entries = engine._table.entries  # type: ignore[attr-defined]
            assert not entries["det"].serving.shaper.images_to_runtime  # a CPU: cv2.LUT wins
            # torch reduces the recognizer's output itself; the others leave it to the host
            assert entries["rec"].serving.shaper.classes_reduced == (backend == "torch")
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
@pytest.mark.parametrize("model", sorted(CASES))
def test_cuda_graphs_replay_fp16_near_onnxruntime(model: str) -> None:
    """The input's cast to float16 and the output's back to float32 are captured too."""
    folder = REPOSITORY / model
    reference = load_runtime("onnxruntime", folder, "onnx", OPTIONS)
    cuda = load_runtime("torch", folder, "onnx", RuntimeOptions(device="cuda:0",
                                                                precision="fp16"))
    for shape in CASES[model]:
        for seed in (0, 1):  # the first run captures, the second replays
            x = batch(shape, seed)
            got = cuda.run(x)
            assert got.dtype == np.float32
            assert float(np.abs(got - reference.run(x)).max()) < FP16_BOUNDS[model], shape


@needs_cuda
def test_shapes_beyond_the_captured_ones_run_eagerly_with_the_same_results() -> None:
    folder = REPOSITORY / "ch_PP-OCRv2_rec/1"
    cpu = load_runtime("torch", folder, "onnx", OPTIONS)
    cuda = load_runtime("torch", folder, "onnx", RuntimeOptions(device="cuda:0",
                                                                 shape_cache_size=1))
    for shape in [(6, 3, 32, 320), (3, 3, 32, 96), (6, 3, 32, 320)]:
        x = batch(shape)
        assert float(np.abs(cuda.run(x) - cpu.run(x)).max()) < 1e-4, shape
    assert list(cuda._captured) == [("<f4", (6, 3, 32, 320))]  # type: ignore[attr-defined]


@needs_cuda
def test_the_engine_hands_a_gpu_the_pages_and_the_crops_as_images() -> None:
    from ocrserve.engine.engine import Engine
    from ocrserve.settings import Settings

    async def shapers() -> dict[str, bool]:
        settings = Settings(backend="torch", model_repository=str(REPOSITORY),
                            slot=("det=ch_PP-OCRv2_det", "cls=ch_ppocr_mobile_v2.0_cls",
                                  "rec=ch_PP-OCRv2_rec"))
        engine = Engine.from_settings(settings, "cuda:0")
        await engine.start()
        try:
            entries = engine._table.entries  # type: ignore[attr-defined]
            return {slot: entries[slot].serving.shaper.images_to_runtime
                    for slot in ("det", "cls", "rec")}
        finally:
            await engine.close()

    assert asyncio.run(shapers()) == {"det": True, "cls": True, "rec": True}


@needs_cuda
def test_cuda_graphs_capture_the_reduction_of_the_recognizer_output() -> None:
    """reduce_classes on CUDA: the argmax and gather are captured with the model, and a
    replay with other crops gives the CPU's best class wherever the CPU's top two are
    clearly apart, and its probability within 1e-4."""
    from ocrserve.engine.shapes import best_class

    folder = REPOSITORY / "ch_PP-OCRv2_rec/1"
    cpu = load_runtime("torch", folder, "onnx", OPTIONS)
    cuda = load_runtime("torch", folder, "onnx", RuntimeOptions(device="cuda:0"))
    assert cuda.reduce_classes()
    for seed in (0, 1):  # capture, then replay
        whole = cpu.run(batch((6, 3, 32, 320), seed))
        expected, got = best_class(whole), cuda.run(batch((6, 3, 32, 320), seed))
        assert got.shape == expected.shape == (6, 80, 2)
        top_two = np.sort(whole, axis=-1)[..., -2:]
        clear = top_two[..., 1] - top_two[..., 0] > 1e-3
        assert (got[..., 0] == expected[..., 0])[clear].all()
        assert float(np.abs(got[..., 1] - expected[..., 1]).max()) < 1e-4


@needs_cuda
def test_cuda_graphs_capture_the_lookup_of_images(sign: Path) -> None:
    """Images in on CUDA: the lookup is captured with the model, and a replay on another
    page gives what the CPU computes from that page's host-normalised tensor."""
    import cv2

    from ocrserve.ops import det as det_ops

    folder = REPOSITORY / "ch_PP-OCRv2_det/1"
    cpu = load_runtime("torch", folder, "onnx", OPTIONS)
    cuda = load_runtime("torch", folder, "onnx", RuntimeOptions(device="cuda:0"))
    assert cuda.accept_images(det_ops.DET_TABLES)
    page, _ = det_ops.det_prepare(cv2.imread(str(sign)), _det_params())
    for flipped in (page, np.ascontiguousarray(page[::-1])):  # capture, then replay
        expected = cpu.run(det_ops.det_normalize(flipped)[None])
        assert float(np.abs(cuda.run(flipped[None]) - expected).max()) < 1e-4


@needs_cuda
def test_cuda_graphs_capture_the_lookup_and_mask_of_crops() -> None:
    """Marked uint8 crops in on CUDA: lookup and mask are captured with the recognizer,
    and a replay with other crops gives what the CPU computes from them normalised."""
    from ocrserve.engine.shapes import RecShaper
    from ocrserve.ops.rec import REC_TABLES, rec_input

    folder = REPOSITORY / "ch_PP-OCRv2_rec/1"
    cpu = load_runtime("torch", folder, "onnx", OPTIONS)
    cuda = load_runtime("torch", folder, "onnx", RuntimeOptions(device="cuda:0"))
    assert cuda.accept_images(REC_TABLES)
    rng = np.random.default_rng(8)
    for _ in range(2):  # capture, then replay
        items = [rec_input(rng.integers(0, 256, (30, int(w), 3), np.uint8), 32, 320)
                 for w in rng.integers(40, 300, 6)]
        expected = cpu.run(RecShaper(32).assemble(items))
        got = cuda.run(RecShaper(32, images_to_runtime=True).assemble(items))
        assert float(np.abs(got - expected).max()) < 1e-4
