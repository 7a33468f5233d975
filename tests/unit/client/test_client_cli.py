"""CLI without a server: parsing, output naming, JSON shapes, the run loop over a fake
client, exit codes, the progress bar and drawing."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from PIL import Image as PILImage

import ocrclient
from ocrclient import (
    CatalogModel,
    Classification,
    DetectResult,
    InstalledVersion,
    InvalidArgument,
    Limits,
    ModelRef,
    NotFound,
    OcrResult,
    Recognition,
    ResponseCacheStats,
    ServedSlot,
    ServerInfo,
    SlotStatus,
    StageTimings,
    TextBox,
    TextLine,
    Unavailable,
    _draw,
    cli,
)
from ocrclient._progress import Progress, render_bar
from ocrclient.cli import (
    LocalError,
    Outcome,
    batches,
    error_line,
    exit_code,
    info_document,
    info_text,
    main,
    models_document,
    models_text,
    parse_args,
    read_image,
    request_ids,
    result_entry,
    result_text,
    results_document,
)

BOX = ((1.0, 2.0), (30.0, 2.0), (30.0, 12.5), (1.0, 12.5))
DET = ModelRef("det", "det", "ch_PP-OCRv2_det", 1)
REC = ModelRef("rec", "rec", "ch_PP-OCRv2_rec", 1)
HELLO = OcrResult("", 640, 480, (TextLine("Hello", 0.98, BOX, 0, 0.99, 0.7),
                                 TextLine("世界", 0.875, BOX, 180, 0.95, 0.8, True)),
                  None, (DET, REC))
EMPTY = OcrResult("", 10, 20, (), StageTimings(1, 2, 3, 4, 12.5), (DET,))
UNDECODABLE = InvalidArgument("image 0: image could not be decoded", reason="IMAGE_UNDECODABLE",
                              request_id="req-7", image_index=0)


# ------------------------------------------------------------------ parsing

@pytest.mark.parametrize("argv", [
    ["--json", "--server", "h:1", "--timeout", "5", "-j", "3", "--request-id", "R",
     "ocr", "a.png", "b.png"],
    ["ocr", "--json", "--server", "h:1", "--timeout", "5", "-j", "3", "--request-id", "R",
     "a.png", "b.png"],
    ["ocr", "a.png", "b.png", "--json", "--server", "h:1", "--timeout", "5", "-j", "3",
     "--request-id", "R"],
    ["--server", "h:1", "ocr", "a.png", "--json", "--timeout", "5", "b.png",
     "--concurrency", "3", "--request-id", "R"],
])
def test_shared_options_work_before_after_and_between(argv: list[str]) -> None:
    args = parse_args(argv, default_server="default:1")
    assert (args.command, args.paths) == ("ocr", ["a.png", "b.png"])
    assert (args.json, args.server, args.timeout, args.concurrency, args.request_id) == (
        True, "h:1", 5.0, 3, "R")


def test_defaults_and_an_option_given_before_the_command_survive() -> None:
    args = parse_args(["ocr", "a.png"], default_server="default:1")
    assert (args.server, args.timeout, args.concurrency, args.batch) == ("default:1", 30.0, 4, 1)
    assert not args.json and not args.jsonl and args.request_id is None
    # The subcommand's own copy of --jsonl must not reset what came before the verb.
    assert parse_args(["--jsonl", "-j", "7", "detect", "a.png"]).jsonl is True
    assert parse_args(["--jsonl", "-j", "7", "detect", "a.png"]).concurrency == 7
    assert parse_args(["-j", "7", "detect", "a.png", "-j", "2"]).concurrency == 2  # last wins
    assert parse_args(["--timeout", "3", "health"]).timeout == 3.0
    assert parse_args(["info", "--json", "--timeout", "3"]).json is True


def test_the_server_default_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCR_SERVER", "env:9")
    assert parse_args(["models"]).server == "env:9"
    assert parse_args(["models", "--server", "flag:1"]).server == "flag:1"


def test_parameter_flags_are_derived_from_the_typed_dicts() -> None:
    args = parse_args([
        "ocr", "a.png", "--lang", "french", "--no-cls", "b.png", "--drop-score", "0.2",
        "--box-thresh", "0.4", "--limit-type", "min", "--use-dilation", "--timings"])
    assert args.paths == ["a.png", "b.png"]
    assert (args.language, args.use_angle_cls, args.drop_score) == ("french", False, 0.2)
    assert (args.box_thresh, args.limit_type, args.use_dilation) == (0.4, "min", True)
    assert args.return_timings is True
    assert args.thresh is None and args.cls_thresh is None  # unset: server default
    recognize = parse_args(["recognize", "x.png", "--slot", "rec:german"])
    assert recognize.language == "rec:german"
    assert not hasattr(recognize, "drop_score")  # RecognizeParams has no drop_score


def test_paths_after_double_dash_may_start_with_a_dash() -> None:
    assert parse_args(["ocr", "a.png", "--", "-odd.png", "--json"]).paths == [
        "a.png", "-odd.png", "--json"]


@pytest.mark.parametrize("argv", [
    ["detect", "a.png", "--lang", "french"],      # not a detection flag
    ["recognize", "a.png", "--drop-score", "0.5"],  # recognize has no drop_score
    ["ocr", "a.png", "--limit-type", "huge"],     # not a choice
    ["ocr", "a.png", "--box-thresh", "high"],     # not a float
    ["ocr", "a.png", "-j", "0"],                  # concurrency below 1
    ["ocr", "a.png", "--batch", "0"],
    ["ocr", "a.png", "--timeout", "-1"],
    ["ocr", "a.png", "--timeout", "inf"],
    ["ocr", "a.png", "--limit-side-len", "-1"],   # a uint32 field
    ["detect", "a.png", "--max-candidates", "99999999999"],
    ["stream", "clip.mp4", "--max-frames", "-3"],
    ["health", "--tls-ca", "/nonexistent/ca.pem"],
    ["classify", "a.png", "--draw", "out"],       # nothing to draw
    ["ocr", "a.png", "--draw-style", "boxes"],    # without --draw
    ["ocr", "a.png", "--json", "--jsonl"],
    ["--json", "ocr", "a.png", "--jsonl"],
    ["health", "extra"],
    ["ocr", "a.png", "--bogus"],
    ["ocr"],                                      # no paths
    [],                                           # no command
])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"ocr-client {ocrclient.__version__}\n"


def test_help_documents_the_draw_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["detect", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: boxes)" in text and "index and score" in text
    assert "before or after the command" in text


# ------------------------------------------------------------------ pure helpers

def test_request_ids_are_numbered_per_request_in_input_order() -> None:
    assert request_ids(None, 3) == [None, None, None]
    assert request_ids("job", 1) == ["job"]
    assert request_ids("job", 3) == ["job-1", "job-2", "job-3"]


def test_batches_keep_input_order() -> None:
    assert batches(5, 1) == [range(0, 1), range(1, 2), range(2, 3), range(3, 4), range(4, 5)]
    assert batches(5, 2) == [range(0, 2), range(2, 4), range(4, 5)]


def test_read_image_reports_local_problems(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "ok.png").write_bytes(b"x")
    assert read_image(str(tmp_path / "ok.png")) == b"x"
    assert read_image(str(tmp_path / "nope.png")) == LocalError("No such file or directory",
                                                                "ENOENT")
    assert read_image(str(tmp_path)) == LocalError("Is a directory", "EISDIR")
    assert read_image(str(tmp_path / "empty.png")) == LocalError("empty file", "EMPTY_FILE")


def test_error_lines_tell_local_from_server_errors() -> None:
    assert error_line("a.png", LocalError("No such file or directory", "ENOENT")) == \
        "error: a.png: No such file or directory"
    assert error_line("b.png", UNDECODABLE) == (
        "b.png: error: INVALID_ARGUMENT [IMAGE_UNDECODABLE]: image could not be decoded "
        "(request id req-7)")
    assert error_line("c.png", Unavailable("connection refused")) == \
        "c.png: error: UNAVAILABLE: connection refused"
    assert cli.command_error_line(NotFound("no slot", reason="SLOT_NOT_FOUND",
                                           request_id="r")) == \
        "error: NOT_FOUND [SLOT_NOT_FOUND]: no slot (request id r)"


def test_exit_codes() -> None:
    ok = Outcome(0, "a.png", result=HELLO)
    assert exit_code([ok]) == 0
    assert exit_code([ok, Outcome(1, "b.png", error=LocalError("x"))]) == 1
    assert exit_code([ok, Outcome(1, "b.png", result=EMPTY, draw_error="cannot draw")]) == 1


# ------------------------------------------------------------------ JSON shapes

def test_result_entry_of_an_ocr_result() -> None:
    entry = result_entry(Outcome(3, "a.png", result=HELLO, drawn="out/a.ocr.png"))
    assert json.loads(json.dumps(entry)) == entry  # plain JSON types only
    assert entry == {
        "image": "a.png", "index": 3, "width": 640, "height": 480,
        "lines": [
            {"text": "Hello", "score": 0.98, "box": [[1.0, 2.0], [30.0, 2.0], [30.0, 12.5],
                                                     [1.0, 12.5]],
             "angle": 0, "angle_score": 0.99, "box_score": 0.7, "rotated": False},
            {"text": "世界", "score": 0.875, "box": [list(p) for p in BOX], "angle": 180,
             "angle_score": 0.95, "box_score": 0.8, "rotated": True},
        ],
        "models": [{"stage": "det", "slot": "det", "name": "ch_PP-OCRv2_det", "version": 1},
                   {"stage": "rec", "slot": "rec", "name": "ch_PP-OCRv2_rec", "version": 1}],
        "drawn": "out/a.ocr.png",
    }


def test_error_entries_carry_code_reason_message_and_request_id() -> None:
    server = result_entry(Outcome(0, "junk.png", result=OcrResult("", 0, 0, (), error=UNDECODABLE),
                                  error=UNDECODABLE))
    assert server == {"image": "junk.png", "index": 0, "error": {
        "code": "INVALID_ARGUMENT", "reason": "IMAGE_UNDECODABLE",
        "message": "image 0: image could not be decoded", "request_id": "req-7"}}
    local = result_entry(Outcome(1, "gone.png", error=LocalError("No such file or directory",
                                                                 "ENOENT")))
    assert local == {"image": "gone.png", "index": 1, "error": {
        "code": "LOCAL", "reason": "ENOENT", "message": "No such file or directory",
        "request_id": None}}
    no_reason = result_entry(Outcome(2, "x.png", error=Unavailable("down")))
    assert no_reason["error"] == {"code": "UNAVAILABLE", "reason": None, "message": "down",
                                  "request_id": None}


def test_results_document_is_in_input_order_with_models_listed_once() -> None:
    outcomes = [Outcome(2, "c.png", error=LocalError("No such file or directory", "ENOENT")),
                Outcome(0, "a.png", result=HELLO), Outcome(1, "b.png", result=EMPTY)]
    document = results_document(outcomes)
    assert json.loads(json.dumps(document)) == document
    assert [r["image"] for r in document["results"]] == ["a.png", "b.png", "c.png"]
    assert all("models" not in r for r in document["results"])
    assert document["models"] == [
        {"stage": "det", "slot": "det", "name": "ch_PP-OCRv2_det", "version": 1},
        {"stage": "rec", "slot": "rec", "name": "ch_PP-OCRv2_rec", "version": 1}]
    assert document["failed"] == 1
    assert document["results"][1]["timings"] == {"decode_ms": 1, "det_ms": 2, "cls_ms": 3,
                                                 "rec_ms": 4, "total_ms": 12.5,
                                                 "cached": False}
    assert "timings" not in document["results"][0]  # none asked for: left out
    assert document["results"][2]["error"]["code"] == "LOCAL"


def test_other_result_entries() -> None:
    detected = result_entry(Outcome(0, "a.png", result=DetectResult("", 5, 6,
                                                                    (TextBox(BOX, 0.5),))))
    assert detected == {"image": "a.png", "index": 0, "width": 5, "height": 6,
                        "boxes": [{"box": [list(p) for p in BOX], "score": 0.5}],
                        "models": []}
    classified = result_entry(Outcome(0, "c.png", result=Classification("", 180, 0.99, True)))
    assert classified == {"image": "c.png", "index": 0, "angle": 180, "score": 0.99,
                          "rotated": True, "models": []}
    recognized = result_entry(Outcome(0, "r.png", result=Recognition("", "abc", 0.5)))
    assert recognized == {"image": "r.png", "index": 0, "text": "abc", "score": 0.5,
                          "models": []}


# ------------------------------------------------------------------ text output

def test_result_text() -> None:
    assert result_text("a.png", HELLO).splitlines() == [
        "a.png  (640x480, 2 lines)", "0.980  Hello", "0.875  世界"]
    assert result_text("b.png", EMPTY) == "b.png  (10x20, 0 lines, 12.5 ms)"
    detected = result_text("a.png", DetectResult("", 5, 6, (TextBox(BOX, 0.5),)))
    assert detected.splitlines() == ["a.png  (5x6, 1 box)", "0.500  1,2 30,2 30,12.5 1,12.5"]
    assert result_text("c.png", Classification("", 180, 0.99)) == "c.png  180  0.990"
    assert result_text("c.png", Classification("", 180, 0.99, True)) == \
        "c.png  180  0.990  rotated"
    assert result_text("r.png", Recognition("", "abc", 0.5)) == "r.png  0.500  abc"


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


def test_info_outputs() -> None:
    info = ServerInfo("0.2.0", "ocr.v1", Limits(64 * 1024 * 1024, 50_000_000, 64, 3200),
                      {"box_thresh": 0.6, "use_angle_cls": True, "det_slot": "det"},
                      (ServedSlot(DET, "", True), ServedSlot(REC, "ch", False)))
    document = info_document(info)
    assert json.loads(json.dumps(document)) == document
    assert document["limits"]["max_images_per_request"] == 64
    assert document["slots"][1] == {"model": {"stage": "rec", "slot": "rec",
                                              "name": "ch_PP-OCRv2_rec", "version": 1},
                                    "language": "ch", "ready": False}
    text = info_text(info).splitlines()
    assert text[0] == "server: ocrserve 0.2.0, API ocr.v1"
    assert "  message size      64 MiB" in text
    assert "  box_thresh        0.6" in text and "  use_angle_cls     yes" in text
    assert text[-3:] == ["  det  det  ch_PP-OCRv2_det v1  ready",
                         "  rec  rec  ch_PP-OCRv2_rec v1  language ch  not ready",
                         "response cache: off"]
    cached = dataclasses.replace(info, response_cache=ResponseCacheStats(
        True, 64 * 1024 * 1024, 3 * 1024 * 1024, 10, 7, 12, 0))
    assert info_text(cached).splitlines()[-1] == \
        "response cache: 3 MiB of 64 MiB, 10 entries, 7 hits, 12 misses"


# ------------------------------------------------------------------ the run loop, faked

class FakeClient:
    """Stands in for OcrClient: the image bytes say what to answer, and how slowly."""

    calls: ClassVar[list[tuple[list[bytes], dict[str, Any]]]] = []
    lock = threading.Lock()

    def __init__(self, target: str, **kwargs: Any) -> None:
        self.kwargs = kwargs

    def ocr(self, images: Sequence[bytes], **kwargs: Any) -> list[OcrResult]:
        with self.lock:
            FakeClient.calls.append((list(images), kwargs))
        if any(image == b"klingon" for image in images):
            raise NotFound("no rec slot named 'rec:klingon'", reason="SLOT_NOT_FOUND",
                           request_id=kwargs.get("request_id"))
        results = []
        for index, image in enumerate(images):
            if image.startswith(b"slow"):
                time.sleep(0.2)
            if image == b"junk":
                error = InvalidArgument(f"image {index}: image could not be decoded",
                                        reason="IMAGE_UNDECODABLE",
                                        request_id=kwargs.get("request_id") or "server-id",
                                        image_index=index)
                results.append(OcrResult("", 0, 0, (), error=error))
            else:
                line = TextLine(image.decode(errors="replace")[:12], 0.9, BOX)
                results.append(OcrResult("", 40, 20, (line,), None, (REC,)))
        return results

    def close(self) -> None:
        pass


@pytest.fixture()
def fake_client(monkeypatch: pytest.MonkeyPatch) -> type[FakeClient]:
    FakeClient.calls = []
    monkeypatch.setattr(cli, "OcrClient", FakeClient)
    return FakeClient


def _files(folder: Path, contents: Sequence[bytes]) -> list[str]:
    paths = []
    for number, content in enumerate(contents):
        path = folder / f"img{number}.png"
        path.write_bytes(content)
        paths.append(str(path))
    return paths


def test_json_keeps_input_order_while_jsonl_follows_completion(
        tmp_path: Path, fake_client: type[FakeClient],
        capsys: pytest.CaptureFixture[str]) -> None:
    paths = _files(tmp_path, [b"slow first", b"second", b"third"])
    assert main(["--json", "ocr", *paths, "-j", "3"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [r["image"] for r in document["results"]] == paths
    assert [r["lines"][0]["text"] for r in document["results"]] == ["slow first", "second",
                                                                    "third"]
    assert len(fake_client.calls) == 3  # one image per request

    assert main(["ocr", *paths, "--jsonl", "-j", "3"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3
    assert lines[-1]["image"] == paths[0]  # the slow one finished last
    assert sorted(line["index"] for line in lines) == [0, 1, 2]


def test_failed_images_do_not_stop_the_others(tmp_path: Path, fake_client: type[FakeClient],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    paths = _files(tmp_path, [b"good", b"junk", b"also good"])
    missing = str(tmp_path / "missing.png")
    assert main(["ocr", paths[0], missing, paths[1], paths[2], "-j", "1"]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"{paths[0]}  (40x20, 1 line)", "0.900  good", "",
                                f"{paths[2]}  (40x20, 1 line)", "0.900  also good"]
    assert err.splitlines() == [
        f"error: {missing}: No such file or directory",
        f"{paths[1]}: error: INVALID_ARGUMENT [IMAGE_UNDECODABLE]: image could not be decoded "
        "(request id server-id)",
        "2 of 4 images failed",
    ]
    assert len(fake_client.calls) == 3  # the missing file was never sent

    assert main(["ocr", "--json", paths[0], missing, paths[1]]) == 1
    document = json.loads(capsys.readouterr().out)
    assert [bool(r.get("error")) for r in document["results"]] == [False, True, True]
    assert document["results"][1]["error"]["code"] == "LOCAL"
    assert document["results"][2]["error"]["reason"] == "IMAGE_UNDECODABLE"
    assert document["failed"] == 2


def test_request_ids_go_out_numbered_in_input_order(
        tmp_path: Path, fake_client: type[FakeClient]) -> None:
    paths = _files(tmp_path, [b"a", b"b", b"c", b"d", b"e"])
    assert main(["ocr", *paths, "--request-id", "job", "--batch", "2", "--jsonl"]) == 0
    sent = sorted((kwargs["request_id"], [i.decode() for i in images])
                  for images, kwargs in fake_client.calls)
    assert sent == [("job-1", ["a", "b"]), ("job-2", ["c", "d"]), ("job-3", ["e"])]
    fake_client.calls.clear()
    assert main(["ocr", paths[0], "--request-id", "solo"]) == 0
    assert fake_client.calls[0][1]["request_id"] == "solo"


def test_a_request_failure_every_request_shares_stops_the_run(
        tmp_path: Path, fake_client: type[FakeClient],
        capsys: pytest.CaptureFixture[str]) -> None:
    paths = _files(tmp_path, [b"klingon", b"b", b"c", b"d"])
    assert main(["ocr", *paths, "-j", "1", "--json"]) == 1
    out, err = capsys.readouterr()
    assert len(fake_client.calls) == 1
    assert err.splitlines() == [
        "error: NOT_FOUND [SLOT_NOT_FOUND]: no rec slot named 'rec:klingon'",
        "error: stopped sending: 3 images not sent",
        "4 of 4 images failed",
    ]
    document = json.loads(out)
    assert [r["error"]["reason"] for r in document["results"]] == ["SLOT_NOT_FOUND"] * 4


def test_timeout_is_per_request_and_zero_means_none(
        tmp_path: Path, fake_client: type[FakeClient], monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[FakeClient] = []

    def make(target: str, **kwargs: Any) -> FakeClient:
        made.append(FakeClient(target, **kwargs))
        return made[-1]

    monkeypatch.setattr(cli, "OcrClient", make)
    paths = _files(tmp_path, [b"a", b"b"])
    assert main(["ocr", *paths, "--timeout", "7", "-j", "8"]) == 0
    assert len(made) == 2  # no more clients than requests
    assert {c.kwargs["timeout"] for c in made} == {7.0}
    made.clear()
    assert main(["ocr", paths[0], "--timeout", "0"]) == 0
    assert made[0].kwargs["timeout"] is None


def test_unreachable_server_is_one_error_line(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "a.png"
    PILImage.new("RGB", (8, 8)).save(image)
    code = main(["--server", f"127.0.0.1:{_closed_port()}", "--timeout", "0.5", "--retries",
                 "0", "ocr", str(image)])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.startswith("error: UNAVAILABLE: ") and err.count("\n") == 1


def test_health_against_an_unreachable_server(capsys: pytest.CaptureFixture[str]) -> None:
    port = _closed_port()
    assert main(["health", "--server", f"127.0.0.1:{port}", "--timeout", "0.5"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: UNAVAILABLE: ") and err.count("\n") == 1


def test_a_missing_file_is_a_local_error(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    absent = str(tmp_path / "absent.png")
    assert main(["--server", f"127.0.0.1:{_closed_port()}", "ocr", absent]) == 1
    assert capsys.readouterr().err == f"error: {absent}: No such file or directory\n"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------ --draw naming

def test_draw_into_the_inputs_folder_never_names_an_input(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("a.png", "b.jpg", "a.ocr.png"):
        Path(name).write_bytes(b"x")
    inputs = ["a.png", "b.jpg", "a.ocr.png", str(tmp_path / "a.png")]
    outputs = _draw.output_paths(inputs, Path("."), "ocr")
    assert [str(p) for p in outputs] == ["a-2.ocr.png", "b.ocr.png", "a.ocr.ocr.png",
                                         "a-3.ocr.png"]
    assert _draw.output_paths(["x/a.png", "y/a.png", "b.png"], Path("out"), "det") == [
        Path("out/a.det.png"), Path("out/a-2.det.png"), Path("out/b.det.png")]


def test_draw_names_avoid_links_to_inputs(tmp_path: Path) -> None:
    source = tmp_path / "in" / "page.png"
    source.parent.mkdir()
    source.write_bytes(b"x")
    out = tmp_path / "out"
    out.mkdir()
    os.link(source, out / "page.ocr.png")            # a hard link to the input
    (out / "page-2.ocr.png").symlink_to(source)      # and a symbolic one
    (out / "page-3.ocr.png").write_bytes(b"old output")  # an earlier run's: reused
    assert _draw.output_paths([str(source)], out, "ocr") == [out / "page-3.ocr.png"]


def test_save_image_refuses_to_overwrite_an_input(tmp_path: Path) -> None:
    source = tmp_path / "a.png"
    PILImage.new("RGB", (4, 4)).save(source)
    before = source.read_bytes()
    with pytest.raises(_draw.DrawError, match="refusing to overwrite"):
        _draw.save_image(PILImage.new("RGB", (4, 4), "red"), source, [str(source)])
    assert source.read_bytes() == before


def test_draw_without_pillow_fails_before_sending(tmp_path: Path, fake_client: type[FakeClient],
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    real_find_spec = _draw.importlib.util.find_spec
    monkeypatch.setattr(_draw.importlib.util, "find_spec",
                        lambda name, *a: None if name == "PIL" else real_find_spec(name, *a))
    paths = _files(tmp_path, [b"a"])
    assert main(["ocr", *paths, "--draw", str(tmp_path / "out")]) == 2
    assert "pip install 'ocrclient[draw]'" in capsys.readouterr().err
    assert fake_client.calls == []
    assert not (tmp_path / "out").exists()


def test_a_bad_font_fails_before_sending(tmp_path: Path, fake_client: type[FakeClient],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    paths = _files(tmp_path, [b"a"])
    code = main(["ocr", *paths, "--draw", str(tmp_path), "--font", str(tmp_path / "no.ttf")])
    assert code == 2 and "--font" in capsys.readouterr().err
    assert fake_client.calls == []


# ------------------------------------------------------------------ drawing

def _white(tmp_path: Path, size: tuple[int, int] = (200, 60)) -> str:
    path = tmp_path / "white.png"
    PILImage.new("RGB", size, (255, 255, 255)).save(path)
    return str(path)


QUAD = ((20.0, 10.0), (180.0, 10.0), (180.0, 50.0), (20.0, 50.0))


def test_boxes_view_fills_the_boxes_in_their_colour(tmp_path: Path) -> None:
    image = _draw.draw_boxes(_white(tmp_path), [QUAD])
    assert image.size == (200, 60)
    red, green, blue = _draw.box_colour(0)
    inside = image.getpixel((100, 30))
    assert inside != (255, 255, 255)  # tinted
    assert image.getpixel((100, 10)) == (red, green, blue)  # the outline
    assert image.getpixel((5, 5)) == (255, 255, 255)  # outside: untouched


def test_side_by_side_writes_the_text_in_its_box_on_a_white_panel(tmp_path: Path) -> None:
    font = _draw.find_font()
    image = _draw.draw_side_by_side(_white(tmp_path), [QUAD], ["Hello 世界"], font)
    assert image.size == (400, 60)
    assert image.getpixel((100, 30)) != (255, 255, 255)  # left: the box is tinted
    panel = image.crop((200, 0, 400, 60)).convert("L")
    inside = panel.crop((24, 14, 176, 46))
    assert inside.getextrema()[0] < 100  # dark text inside the box
    assert panel.getpixel((5, 55)) == 255  # outside every box: white


def test_colours_are_deterministic_and_differ() -> None:
    colours = [_draw.box_colour(i) for i in range(8)]
    assert colours == [_draw.box_colour(i) for i in range(8)]
    assert len(set(colours)) == 8


def test_box_frame_of_a_turned_quad() -> None:
    frame = _draw.box_frame(((0.0, 0.0), (10.0, 10.0), (5.0, 15.0), (-5.0, 5.0)))
    assert frame.angle == pytest.approx(45)
    assert frame.width == pytest.approx(200 ** 0.5)
    assert frame.height == pytest.approx(50 ** 0.5)
    assert (frame.cx, frame.cy) == (2.5, 7.5)


def test_vertical_text_and_polygons_are_drawn(tmp_path: Path) -> None:
    font = _draw.find_font()
    tall = ((10.0, 5.0), (40.0, 5.0), (40.0, 195.0), (10.0, 195.0))
    poly = ((100.0, 20.0), (180.0, 20.0), (190.0, 60.0), (180.0, 100.0), (100.0, 100.0))
    image = _draw.draw_side_by_side(_white(tmp_path, (200, 200)), [tall, poly],
                                    ["竖排文字", "poly"], font)
    panel = image.crop((200, 0, 400, 200)).convert("L")
    assert panel.crop((12, 20, 38, 180)).getextrema()[0] < 100
    assert panel.crop((102, 30, 178, 90)).getextrema()[0] < 100


def test_find_font_prefers_cjk_and_warns_on_fallback(tmp_path: Path) -> None:
    wqy = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
    if os.path.exists(wqy):  # tools/install-fonts.sh installs it
        assert _draw.find_font() == _draw.FontChoice(wqy)
    dejavu = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    fallback = _draw.find_font(candidates=[], fallbacks=[dejavu], use_fontconfig=False)
    assert fallback.path == dejavu and fallback.warning is not None
    assert "--font" in fallback.warning and fallback.warning.count("\n") == 0
    builtin = _draw.find_font(candidates=[], fallbacks=[], use_fontconfig=False)
    assert builtin.path is None and builtin.warning is not None
    # Pillow's own font still writes something.
    image = _draw.draw_side_by_side(_white(tmp_path), [QUAD], ["Hello"], builtin)
    assert image.crop((220, 14, 376, 46)).convert("L").getextrema()[0] < 128
    with pytest.raises(_draw.DrawError):
        _draw.find_font(str(tmp_path / "missing.ttf"))


def test_draw_through_the_cli_writes_side_by_side_next_to_the_inputs(
        tmp_path: Path, fake_client: type[FakeClient], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    PILImage.new("RGB", (60, 40), "white").save("good.png")
    Path("junk.png").write_bytes(b"junk")
    before = {name: Path(name).read_bytes() for name in ("good.png", "junk.png")}
    assert main(["ocr", "good.png", "junk.png", "--draw", ".", "--jsonl"]) == 1
    entries = {e["image"]: e for e in map(json.loads, capsys.readouterr().out.splitlines())}
    assert entries["good.png"]["drawn"] == "good.ocr.png"
    assert "drawn" not in entries["junk.png"]  # failed images are not drawn
    assert {name: Path(name).read_bytes() for name in before} == before
    with PILImage.open("good.ocr.png") as drawn:
        assert drawn.size == (120, 40)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.ocr.png", "good.png",
                                                          "junk.png"]


# ------------------------------------------------------------------ progress bar

class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_render_bar() -> None:
    assert render_bar(0, 40, width=10) == "[          ] 0/40"
    assert render_bar(12, 40, width=10) == "[###       ] 12/40"
    assert render_bar(40, 40, 2, width=10) == "[##########] 40/40 (2 failed)"


def test_progress_only_on_a_terminal_with_enough_images() -> None:
    assert not Progress(40, io.StringIO()).enabled
    assert not Progress(2, FakeTerminal()).enabled
    terminal = FakeTerminal()
    progress = Progress(40, terminal)
    assert progress.enabled
    progress.update(1)
    with progress.suspended():
        terminal.write("a line\n")
    progress.update(2, 1)
    progress.close()
    progress.update(3)  # after close: nothing
    text = terminal.getvalue()
    assert text.startswith("\r[") and "a line\n" in text and "2/40 (1 failed)" in text
    assert text.endswith("\r") and "3/40" not in text
    # What remains visible after the last carriage return is blank.
    assert text.rsplit("\r", 2)[-2].strip() == ""


def test_no_progress_bar_in_pipes(tmp_path: Path, fake_client: type[FakeClient],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    paths = _files(tmp_path, [b"x"] * 8)
    assert main(["ocr", *paths, "--jsonl"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "\r" not in out and len(out.splitlines()) == 8
