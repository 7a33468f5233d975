"""Cross-check ocrserve.ops against PaddleOCR 2.8.1's own code, run in the reference venv.

The reference venv (conftest's ``reference_python``: ``make ref`` or OCR_REFERENCE_PYTHON) is a
separate interpreter, so the test writes random inputs to .npy files, runs one inline script
there that applies PaddleOCR's functions, and compares its answers with ours: boxes and pixels
exactly, scores to 1e-6.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from ocrserve.engine.shapes import ClsShaper, RecShaper
from ocrserve.models.catalog import dictionary_lines
from ocrserve.ops.cls import cls_decode, cls_input
from ocrserve.ops.det import (
    DetParams,
    db_postprocess,
    det_normalize,
    det_resize,
    filter_det_boxes,
    polygon_area_length,
)
from ocrserve.ops.geometry import crop_min_area_rect, crop_quad, sort_order
from ocrserve.ops.image import composite_over_white
from ocrserve.ops.rec import (
    CtcDecoder,
    rec_input,
    rec_max_wh_ratio,
    rec_normalize,
    rec_padded_width,
)

pytestmark = pytest.mark.reference

DET_PARAMS = [
    DetParams(),
    DetParams(score_mode="slow", use_dilation=True),
    DetParams(box_type="poly"),
    DetParams(box_type="poly", use_dilation=True, unclip_ratio=2.0, box_thresh=0.5),
    DetParams(thresh=0.5, box_thresh=0.7, unclip_ratio=1.2, max_candidates=40),
]
MAP_SHAPES = [(160, 224), (96, 320), (256, 256), (64, 96), (320, 128), (480, 640)]
RESIZE_CASES = [
    ((20, 30), 960, "max"), ((31, 32), 960, "min"), ((500, 700), 960, "max"),
    ((1000, 1500), 960, "max"), ((961, 100), 960, "max"), ((300, 2000), 736, "min"),
    ((123, 457), 640, "resize_long"), ((47, 1201), 64, "max"),
]
REC_HEIGHTS = [(48, 320), (32, 320)]

#: (folder with inputs and outputs, the cases, the reference script's JSON answers)
Ref = tuple[Path, dict[str, Any], dict[str, Any]]

REFERENCE_SCRIPT = r'''
import importlib.util, json, sys
from pathlib import Path
import cv2
import numpy as np
sys.path.insert(0, importlib.util.find_spec("paddleocr").submodule_search_locations[0])
from ppocr.data.imaug.operators import DetResizeForTest, NormalizeImage, ToCHWImage
from ppocr.postprocess.cls_postprocess import ClsPostProcess
from ppocr.postprocess.db_postprocess import DBPostProcess
from ppocr.postprocess.rec_postprocess import CTCLabelDecode
from ppocr.utils.utility import alpha_to_color
from tools.infer.predict_cls import TextClassifier
from tools.infer.predict_det import TextDetector
from tools.infer.predict_rec import TextRecognizer
from tools.infer.predict_system import sorted_boxes
from tools.infer.utility import get_minarea_rect_crop, get_rotate_crop_image

d = Path(sys.argv[1])
cases = json.loads((d / "cases.json").read_text())
load = lambda name: np.load(d / (name + ".npy"))
save = lambda name, arr: np.save(d / ("out_" + name + ".npy"), np.ascontiguousarray(arr))
out = {"det": [], "resize": [], "ctc": {}, "cls": [], "sort": []}
detector = TextDetector.__new__(TextDetector)

for c in cases["det"]:
    p = c["params"]
    post = DBPostProcess(thresh=p["thresh"], box_thresh=p["box_thresh"],
                         max_candidates=p["max_candidates"], unclip_ratio=p["unclip_ratio"],
                         use_dilation=p["use_dilation"], score_mode=p["score_mode"],
                         box_type=p["box_type"])
    prob = load(c["map"])
    shape = np.array([c["shape"]], dtype=np.float64)
    pred = {"maps": prob[None, None]}
    boxes = post(pred, shape)[0]["points"]
    # __call__ drops the scores: get them from the method it calls, on the same mask
    mask = prob > p["thresh"]
    if p["use_dilation"]:
        mask = cv2.dilate(mask.astype(np.uint8), np.array([[1, 1], [1, 1]]))
    fn = post.polygons_from_bitmap if p["box_type"] == "poly" else post.boxes_from_bitmap
    _, scores = fn(prob, mask, int(c["shape"][1]), int(c["shape"][0]))
    img_shape = (int(c["shape"][0]), int(c["shape"][1]), 3)
    if p["box_type"] == "poly":
        filtered = detector.filter_tag_det_res_only_clip(boxes, img_shape)
    else:
        filtered = detector.filter_tag_det_res(boxes, img_shape)
    out["det"].append({"boxes": [np.asarray(b).tolist() for b in boxes],
                       "scores": [float(s) for s in scores],
                       "filtered": [np.asarray(b).tolist() for b in filtered]})

norm = NormalizeImage(std=[0.229, 0.224, 0.225], mean=[0.485, 0.456, 0.406],
                      scale="1./255.", order="hwc")
for c in cases["resize"]:
    op = DetResizeForTest(limit_side_len=c["limit"], limit_type=c["type"])
    data = op({"image": load(c["img"])})
    out["resize"].append({"shape": list(data["image"].shape),
                          "info": [float(v) for v in data["shape"]]})
    save(c["img"], ToCHWImage()(norm(data))["image"])

for h, base in cases["rec_heights"]:
    rec = TextRecognizer.__new__(TextRecognizer)
    rec.rec_image_shape, rec.rec_algorithm, rec.use_onnx = [3, h, base], "SVTR_LCNet", False
    crops = [load(n) for n in cases["crops"]]
    for start in range(0, len(crops), 6):
        group = crops[start:start + 6]
        ratio = base / h
        for crop in group:
            ratio = max(ratio, crop.shape[1] * 1.0 / crop.shape[0])
        batch = np.stack([rec.resize_norm_img(crop, ratio) for crop in group])
        save(f"rec_{h}_{start}", batch)

cls = TextClassifier.__new__(TextClassifier)
cls.cls_image_shape = [3, 48, 192]
save("cls", np.stack([cls.resize_norm_img(load(n)) for n in cases["crops"]]))
out["cls"] = [[l, float(s)] for l, s in ClsPostProcess(label_list=["0", "180"])(load("cls_probs"))]

for name in cases["dicts"]:
    decoder = CTCLabelDecode(character_dict_path=str(d / name), use_space_char=True)
    out["ctc"][name] = [[t, float(s)] for t, s in decoder(load("ctc_preds"))]

for name in cases["sort"]:
    out["sort"].append([np.asarray(b).tolist() for b in sorted_boxes(load(name))])

image = load("image")
for i, q in enumerate(load("quads")):
    save(f"quad_crop_{i}", get_rotate_crop_image(image, q.copy()))
for i, name in enumerate(cases["polys"]):
    save(f"poly_crop_{i}", get_minarea_rect_crop(image, load(name)))
save("alpha", alpha_to_color(load("bgra")))
from shapely.geometry import Polygon
out["area_length"] = [[Polygon(p).area, Polygon(p).length] for p in load("area_polys")]
(d / "out.json").write_text(json.dumps(out))
'''


def _prob_map(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Low noise with specks above the threshold, plus rotated rectangles and ellipses."""
    h, w = shape
    prob = rng.uniform(0.0, 0.25, size=shape).astype(np.float32)
    specks = rng.random(shape) < 0.002
    prob[specks] = rng.uniform(0.3, 0.7, size=int(specks.sum()))
    for _ in range(h * w // 3000):
        center = (float(rng.uniform(0, w)), float(rng.uniform(0, h)))
        size = (float(rng.uniform(2, min(120, w / 3))), float(rng.uniform(2, min(24, h / 5))))
        shape_mask = np.zeros(shape, dtype=np.uint8)
        if rng.random() < 0.7:
            corners = cv2.boxPoints((center, size, float(rng.uniform(-30, 30))))
            cv2.fillPoly(shape_mask, [np.round(corners).astype(np.int32)], 1)
        else:
            axes = (int(size[0] / 2) + 1, int(size[1] / 2) + 1)
            cv2.ellipse(shape_mask, (int(center[0]), int(center[1])), axes,
                        float(rng.uniform(0, 180)), 0, 360, 1, -1)
        level = rng.uniform(0.55, 1.0)
        noisy = np.clip(level + rng.normal(0, 0.05, size=shape), 0, 1).astype(np.float32)
        prob = np.where(shape_mask > 0, noisy, prob)
    return prob


def _write_dict(path: Path, chars: list[str]) -> None:
    path.write_bytes("".join(c + ("\r\n" if i % 3 == 0 else "\n")
                             for i, c in enumerate(chars)).encode("utf-8"))


def _build_inputs(d: Path, rng: np.random.Generator) -> dict[str, Any]:
    def save(name: str, arr: np.ndarray) -> str:
        np.save(d / f"{name}.npy", arr)
        return name

    cases: dict[str, Any] = {"det": [], "resize": [], "rec_heights": REC_HEIGHTS}
    for m, shape in enumerate(MAP_SHAPES):
        name = save(f"map{m}", _prob_map(rng, shape))
        src = [int(shape[0] * rng.uniform(0.5, 4)), int(shape[1] * rng.uniform(0.5, 4))]
        for params in DET_PARAMS:
            cases["det"].append({"map": name, "shape": [*src, 1.0, 1.0],
                                 "params": asdict(params)})
    for r, ((h, w), limit, kind) in enumerate(RESIZE_CASES):
        img = save(f"img{r}", rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8))
        cases["resize"].append({"img": img, "limit": limit, "type": kind})
    crop_sizes = [(int(rng.integers(8, 80)), int(rng.integers(4, 900))) for _ in range(14)]
    crop_sizes += [(48, 100), (32, 100), (7, 3), (100, 10)]
    cases["crops"] = [save(f"crop{i}", rng.integers(0, 256, size=(*s, 3), dtype=np.uint8))
                      for i, s in enumerate(crop_sizes)]
    save("cls_probs", rng.dirichlet((1, 1), size=9).astype(np.float32))

    chars = [chr(c) for c in range(0x4E00, 0x4E00 + 40)] + list("ab1 .")
    arabic = [chr(c) for c in range(0x0627, 0x0627 + 40)] + list("0123:")
    _write_dict(d / "keys.txt", chars)
    _write_dict(d / "arabic_dict.txt", arabic)
    cases["dicts"] = ["keys.txt", "arabic_dict.txt"]
    num_classes = len(chars) + 2
    logits = rng.normal(0, 1, size=(8, 40, num_classes)).astype(np.float32)
    logits[:, :, 0] += 2.0  # blanks dominate, as in real outputs
    logits[0] = -10.0  # one all-blank row: empty text
    logits[0, :, 0] = 10.0
    preds = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    save("ctc_preds", preds.astype(np.float32))

    cases["sort"] = []
    for s in range(4):
        n = int(rng.integers(2, 12))
        corner = np.stack([rng.uniform(0, 400, n), rng.choice([20.0, 25.0, 29.5, 80.0], n)
                           + rng.uniform(0, 12, n)], axis=1)
        boxes = corner[:, None, :] + np.array([[0, 0], [50, 0], [50, 20], [0, 20]])
        cases["sort"].append(save(f"sort{s}", boxes.astype(np.float32)))

    save("image", rng.integers(0, 256, size=(240, 320, 3), dtype=np.uint8))
    rects = [((float(rng.uniform(40, 280)), float(rng.uniform(40, 200))),
              (float(rng.uniform(8, 120)), float(rng.uniform(8, 120))),
              float(rng.uniform(-40, 40))) for _ in range(10)]
    rects += [((100.0, 100.0), (20.0, 60.0), 10.0), ((200.0, 90.0), (80.0, 20.0), 85.0)]  # tall
    save("quads", np.stack([_paddle_quad(r) for r in rects]))
    cases["polys"] = [save(f"poly{i}", np.round(cv2.ellipse2Poly(
        (int(rng.integers(60, 260)), int(rng.integers(60, 180))),
        (int(rng.integers(10, 60)), int(rng.integers(5, 40))), int(rng.integers(0, 180)),
        0, 360, 30)).astype(np.int64)) for i in range(4)]
    save("bgra", rng.integers(0, 256, size=(16, 24, 4), dtype=np.uint8))
    save("area_polys", (rng.random((200, 12, 2)) * 2000).astype(np.float32))
    (d / "cases.json").write_text(json.dumps(cases))
    return cases


def _paddle_quad(rect: tuple[tuple[float, float], tuple[float, float], float]) -> np.ndarray:
    """A float32 quad in filter_det_boxes' corner order, as the pipeline crops it."""
    corners = np.round(cv2.boxPoints(rect)).astype(np.int32)
    return filter_det_boxes([corners], [1.0], 10_000, 10_000)[0][0]


@pytest.fixture(scope="module")
def ref(tmp_path_factory: pytest.TempPathFactory, reference_python: Path) -> Ref:
    d = tmp_path_factory.mktemp("paddleocr_ref")
    cases = _build_inputs(d, np.random.default_rng(20261126))
    done = subprocess.run([str(reference_python), "-c", REFERENCE_SCRIPT, str(d)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    return d, cases, json.loads((d / "out.json").read_text())


def _ours(d: Path, name: str) -> np.ndarray:
    return np.load(d / f"{name}.npy")


def _theirs(d: Path, name: str) -> np.ndarray:
    return np.load(d / f"out_{name}.npy", allow_pickle=False)


def test_db_postprocess_matches(ref: Ref) -> None:
    d, cases, out = ref
    kept = {"quad": 0, "poly": 0}
    for case, expected in zip(cases["det"], out["det"], strict=True):
        params = DetParams(**case["params"])
        src_h, src_w = case["shape"][:2]
        boxes, scores = db_postprocess(_ours(d, case["map"]), (src_h, src_w, 1.0, 1.0), params)
        assert [b.tolist() for b in boxes] == expected["boxes"], case
        np.testing.assert_allclose(scores, expected["scores"], rtol=0, atol=1e-6)
        filtered, _ = filter_det_boxes(boxes, scores, src_h, src_w, params.box_type)
        assert [b.tolist() for b in filtered] == expected["filtered"], case
        kept[params.box_type] += len(filtered)
    assert min(kept.values()) > 80  # the random maps really produced boxes of both kinds


def test_polygon_area_length_is_shapelys(ref: Ref) -> None:
    d, _, out = ref
    ours = [list(polygon_area_length(p)) for p in _ours(d, "area_polys")]
    assert ours == out["area_length"]  # bit for bit: unclip distances depend on it


def test_det_resize_and_normalize_match(ref: Ref) -> None:
    d, cases, out = ref
    for case, expected in zip(cases["resize"], out["resize"], strict=True):
        img = _ours(d, case["img"])
        resized, ratio_h, ratio_w = det_resize(img, case["limit"], case["type"])
        assert list(resized.shape) == expected["shape"], case
        assert [img.shape[0], img.shape[1], ratio_h, ratio_w] == expected["info"], case
        np.testing.assert_array_equal(det_normalize(resized), _theirs(d, case["img"]))


def test_rec_preprocess_matches(ref: Ref) -> None:
    d, cases, _ = ref
    crops = [_ours(d, n) for n in cases["crops"]]
    for height, base in cases["rec_heights"]:
        for start in range(0, len(crops), 6):
            group = crops[start : start + 6]
            ratio = rec_max_wh_ratio((c.shape[:2] for c in group), height, base)
            expected = _theirs(d, f"rec_{height}_{start}")
            # what the front-end sends, normalised one by one and by the engine's shaper
            width = rec_padded_width(height, ratio)
            items = [rec_input(c, height, width) for c in group]
            np.testing.assert_array_equal(np.stack([rec_normalize(i) for i in items]), expected)
            np.testing.assert_array_equal(RecShaper(height).assemble(items), expected)


def test_cls_matches(ref: Ref) -> None:
    d, cases, out = ref
    ours = ClsShaper().assemble([cls_input(_ours(d, n), (3, 48, 192)) for n in cases["crops"]])
    np.testing.assert_array_equal(ours, _theirs(d, "cls"))
    assert [list(r) for r in cls_decode(_ours(d, "cls_probs"))] == out["cls"]


def test_ctc_decode_matches(ref: Ref) -> None:
    d, cases, out = ref
    preds = _ours(d, "ctc_preds")
    for name in cases["dicts"]:
        decoder = CtcDecoder(dictionary_lines(d / name), reverse="arabic" in name)
        ours = decoder.decode(preds.argmax(axis=2), preds.max(axis=2))
        assert [t for t, _ in ours] == [t for t, _ in out["ctc"][name]]
        np.testing.assert_allclose([s for _, s in ours], [s for _, s in out["ctc"][name]],
                                   rtol=0, atol=1e-6)
        assert ours[0] == ("", 0.0)


def test_sort_and_crops_match(ref: Ref) -> None:
    d, cases, out = ref
    for name, expected in zip(cases["sort"], out["sort"], strict=True):
        boxes = _ours(d, name)
        assert [boxes[i].tolist() for i in sort_order(list(boxes))] == expected
    image = _ours(d, "image")
    for i, quad in enumerate(_ours(d, "quads")):
        np.testing.assert_array_equal(crop_quad(image, quad), _theirs(d, f"quad_crop_{i}"))
    for i, name in enumerate(cases["polys"]):
        np.testing.assert_array_equal(crop_min_area_rect(image, _ours(d, name)),
                                      _theirs(d, f"poly_crop_{i}"))
    np.testing.assert_array_equal(composite_over_white(_ours(d, "bgra")), _theirs(d, "alpha"))
