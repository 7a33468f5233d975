"""CLI: the pure formatting functions, the derived flags, drawing and exit codes."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from PIL import Image as PILImage

from ocrclient import (
    CatalogModel,
    Classification,
    DetectResult,
    InstalledVersion,
    ModelRef,
    OcrResult,
    Recognition,
    SlotStatus,
    StageTimings,
    TextBox,
    TextLine,
)
from ocrclient._draw import draw_boxes, output_names
from ocrclient.cli import (
    build_parser,
    classify_text,
    detect_text,
    main,
    models_document,
    models_text,
    ocr_text,
    recognize_text,
    results_document,
)

BOX = ((1.0, 2.0), (30.0, 2.0), (30.0, 12.5), (1.0, 12.5))
MODEL = ModelRef("rec", "rec", "ch_PP-OCRv2_rec", 1)
OCR_RESULTS = [
    OcrResult("a.png", 640, 480, (TextLine("Hello", 0.98, BOX, 0, 0.99, 0.7),
                                  TextLine("世界", 0.875, BOX, 180, 0.95, 0.8)), None, (MODEL,)),
    OcrResult("b.png", 10, 20, (), StageTimings(1, 2, 3, 4, 12.5), (MODEL,)),
]


def test_ocr_json_document_shape() -> None:
    document = results_document(["a.png", "b.png"], OCR_RESULTS)
    assert json.loads(json.dumps(document)) == document  # plain JSON types only
    first, second = document["results"]
    assert first == {
        "image": "a.png", "width": 640, "height": 480,
        "lines": [
            {"text": "Hello", "score": 0.98, "box": [[1.0, 2.0], [30.0, 2.0], [30.0, 12.5],
                                                     [1.0, 12.5]],
             "angle": 0, "angle_score": 0.99, "box_score": 0.7},
            {"text": "世界", "score": 0.875, "box": [list(p) for p in BOX], "angle": 180,
             "angle_score": 0.95, "box_score": 0.8},
        ],
    }
    assert second["lines"] == []
    assert second["timings"] == {"decode_ms": 1, "det_ms": 2, "cls_ms": 3, "rec_ms": 4,
                                 "total_ms": 12.5}
    assert document["models"] == [{"stage": "rec", "slot": "rec", "name": "ch_PP-OCRv2_rec",
                                   "version": 1}]


def test_detect_classify_recognize_documents() -> None:
    detected = results_document(["a.png"], [DetectResult("a.png", 5, 6, (TextBox(BOX, 0.5),))])
    assert detected["results"] == [{"image": "a.png", "width": 5, "height": 6,
                                    "boxes": [{"box": [list(p) for p in BOX], "score": 0.5}]}]
    assert detected["models"] == []
    classified = results_document(["c.png"], [Classification("c.png", 180, 0.99)])
    assert classified["results"] == [{"image": "c.png", "angle": 180, "score": 0.99}]
    recognized = results_document(["r.png"], [Recognition("r.png", "abc", 0.5)])
    assert recognized["results"] == [{"image": "r.png", "text": "abc", "score": 0.5}]


def test_document_needs_one_path_per_result() -> None:
    with pytest.raises(ValueError):
        results_document(["a.png"], OCR_RESULTS)


def test_ocr_text_has_a_header_then_score_and_text() -> None:
    assert ocr_text(["a.png", "b.png"], OCR_RESULTS).splitlines() == [
        "a.png  (640x480, 2 lines)",
        "0.980  Hello",
        "0.875  世界",
        "",
        "b.png  (10x20, 0 lines, 12.5 ms)",
    ]


def test_other_text_outputs() -> None:
    detected = detect_text(["a.png"], [DetectResult("a.png", 5, 6, (TextBox(BOX, 0.5),))])
    assert detected.splitlines() == ["a.png  (5x6, 1 boxes)", "0.500  1,2 30,2 30,12.5 1,12.5"]
    assert classify_text(["c.png"], [Classification("c", 180, 0.99)]) == "c.png  180  0.990"
    assert recognize_text(["r.png"], [Recognition("r", "abc", 0.5)]) == "r.png  0.500  abc"


def test_models_outputs() -> None:
    catalog = [CatalogModel("ch_PP-OCRv2_det", "det", "ch", False, "3M", "https://x",
                            (InstalledVersion(1, "onnx", "wheel"),))]
    slots = [SlotStatus("det", "det", "ch_PP-OCRv2_det", 1, "onnxruntime", "cpu", "READY", "")]
    document = models_document(catalog, slots)
    assert document["catalog"][0]["installed"] == [{"version": 1, "format": "onnx",
                                                    "source": "wheel"}]
    assert document["slots"][0]["state"] == "READY"
    assert models_text(catalog, slots).splitlines() == [
        "catalog:",
        "  ch_PP-OCRv2_det  det  ch  installed: v1 (onnx)",
        "slots:",
        "  det  ch_PP-OCRv2_det v1  onnxruntime  cpu  READY",
    ]


def test_parameter_flags_are_derived_from_the_typed_dicts() -> None:
    args = build_parser().parse_args([
        "--json", "ocr", "a.png", "b.png", "--lang", "french", "--no-cls", "--drop-score", "0.2",
        "--box-thresh", "0.4", "--limit-type", "min", "--use-dilation", "--timings"])
    assert args.json and args.paths == ["a.png", "b.png"]
    assert (args.language, args.use_angle_cls, args.drop_score) == ("french", False, 0.2)
    assert (args.box_thresh, args.limit_type, args.use_dilation) == (0.4, "min", True)
    assert args.return_timings is True
    assert args.thresh is None and args.cls_thresh is None  # unset: server default
    assert build_parser().parse_args(["recognize", "x.png", "--slot", "rec:german"]
                                     ).language == "rec:german"


@pytest.mark.parametrize("argv", [
    ["detect", "a.png", "--lang", "french"],      # not a detection flag
    ["ocr", "a.png", "--limit-type", "huge"],     # not a choice
    ["ocr", "a.png", "--box-thresh", "high"],     # not a float
    ["classify", "a.png", "--draw", "out"],       # nothing to draw
    ["ocr"],                                      # no paths
    [],                                           # no command
])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_default_server_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    port = _closed_port()
    monkeypatch.setenv("OCR_SERVER", f"127.0.0.1:{port}")
    assert main(["--timeout", "0.5", "health"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: UNAVAILABLE: ") and err.count("\n") == 1
    assert f"127.0.0.1:{port}" in err


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_server_is_one_error_line(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "a.png"
    PILImage.new("RGB", (8, 8)).save(image)
    code = main(["--server", f"127.0.0.1:{_closed_port()}", "--timeout", "0.5", "--json",
                 "ocr", str(image)])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err.startswith("error: UNAVAILABLE: ") and err.count("\n") == 1


def test_missing_input_file_is_an_error_line(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--server", f"127.0.0.1:{_closed_port()}", "ocr",
                 str(tmp_path / "absent.png")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: INVALID_ARGUMENT: ") and "absent.png" in err


def test_draw_outlines_the_boxes(tmp_path: Path) -> None:
    source = tmp_path / "white.png"
    PILImage.new("RGB", (60, 40), (255, 255, 255)).save(source)
    destination = tmp_path / "drawn.png"
    draw_boxes(str(source), [((10.0, 10.0), (50.0, 10.0), (50.0, 30.0), (10.0, 30.0))],
               destination)
    with PILImage.open(destination) as drawn:
        assert drawn.size == (60, 40)
        assert drawn.getpixel((30, 10)) == (255, 0, 0)   # on the outline
        assert drawn.getpixel((30, 20)) == (255, 255, 255)  # inside, untouched
        assert drawn.getpixel((2, 2)) == (255, 255, 255)  # outside, untouched


def test_output_names_are_unique() -> None:
    assert output_names(["x/a.png", "y/a.png", "b.png"]) == ["a.png", "1_a.png", "b.png"]
