"""The real client against the real server, on the client's oldest dependencies.

Sync and async clients, every RPC, the rich errors (google.rpc.Status details
parsed by the old googleapis-common-protos and protobuf), per-image errors,
the call options, and the CLI.
"""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from ocrclient import (
    AsyncOcrClient,
    InvalidArgument,
    NotFound,
    OcrClient,
    OcrResult,
)

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"  # `make fonts`
# What the rendered page says, one entry per row.  Compared without spaces: the
# recogniser may or may not put one between "Total" and "42.50".
PAGE_LINES = ("Hello World 2024", "Compat client test", "Total 42.50")
LINE_TEXT = "Hello World"


def _font(size: int) -> Any:
    if Path(FONT).exists():
        return ImageFont.truetype(FONT, size)
    return ImageFont.load_default(size)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def page() -> Image.Image:
    """A white page with PAGE_LINES in black, one per row."""
    font = _font(36)
    image = Image.new("RGB", (640, 80 + 70 * len(PAGE_LINES)), "white")
    draw = ImageDraw.Draw(image)
    for row, text in enumerate(PAGE_LINES):
        draw.text((40, 40 + 70 * row), text, fill="black", font=font)
    return image


@pytest.fixture(scope="module")
def page_png(page: Image.Image) -> bytes:
    return png(page)


@pytest.fixture(scope="module")
def line_image() -> Image.Image:
    """LINE_TEXT as an already-cropped, horizontal line (classify, recognize)."""
    font = _font(40)
    left, top, right, bottom = font.getbbox(LINE_TEXT)
    image = Image.new("RGB", (int(right - left) + 24, int(bottom - top) + 20), "white")
    ImageDraw.Draw(image).text((12 - left, 10 - top), LINE_TEXT, fill="black", font=font)
    return image


def squashed(texts: Any) -> list[str]:
    return [text.replace(" ", "") for text in texts]


def assert_reads_page(result: OcrResult, page: Image.Image) -> None:
    assert result.error is None
    assert (result.width, result.height) == page.size
    assert squashed(line.text for line in result.lines) == squashed(PAGE_LINES)
    for line in result.lines:
        assert len(line.box) == 4 and 0.5 <= line.score <= 1.0
    assert {m.stage for m in result.models} == {"det", "cls", "rec"}


# ------------------------------------------------------------------ sync client


def test_ocr_one_reads_the_page(client: OcrClient, page: Image.Image, page_png: bytes) -> None:
    result = client.ocr_one(page_png, return_timings=True)
    assert_reads_page(result, page)
    assert result.timings is not None and result.timings.total_ms > 0


def test_ocr_batch_of_encoded_numpy_and_pil_images(client: OcrClient, page: Image.Image,
                                                   page_png: bytes) -> None:
    bgr = np.ascontiguousarray(np.asarray(page)[:, :, ::-1])
    results = client.ocr([page_png, bgr, page])
    assert len(results) == 3
    for result in results:
        assert_reads_page(result, page)


def test_detect_finds_one_box_per_row(client: OcrClient, page: Image.Image,
                                      page_png: bytes) -> None:
    (result,) = client.detect([page_png], box_thresh=0.5, request_id="compat-detect")
    assert result.error is None and (result.width, result.height) == page.size
    assert len(result.boxes) == len(PAGE_LINES)
    for box in result.boxes:
        xs, ys = zip(*box.box, strict=True)
        assert min(xs) >= 0 and max(xs) < page.width
        assert min(ys) >= 0 and max(ys) < page.height
        assert 0.5 <= box.score <= 1.0


def test_classify_tells_upright_from_upside_down(client: OcrClient,
                                                 line_image: Image.Image) -> None:
    upright, flipped = client.classify([png(line_image), png(line_image.rotate(180))])
    assert (upright.angle, upright.rotated) == (0, False)
    assert (flipped.angle, flipped.rotated) == (180, True)
    assert upright.error is None and flipped.error is None


def test_recognize_reads_a_cropped_line(client: OcrClient, line_image: Image.Image) -> None:
    (result,) = client.recognize([png(line_image)])
    assert result.error is None
    assert squashed([result.text]) == squashed([LINE_TEXT]) and result.score > 0.8


def test_server_info_slots_catalog_and_health(client: OcrClient) -> None:
    info = client.get_server_info()
    assert info.api_version == "ocr.v1" and info.server_version
    assert info.defaults["box_thresh"] == 0.6
    assert {slot.model.stage for slot in info.slots} == {"det", "cls", "rec"}
    slots = client.list_slots()
    assert {slot.slot for slot in slots} >= {"det", "cls", "rec"}
    assert all(slot.state == "READY" for slot in slots)
    catalog = client.list_catalog()
    installed = {model.name for model in catalog if model.installed}
    assert {slot.model for slot in slots} <= installed
    assert client.health() == "SERVING"


# ---------------------------------------------------------------- rich errors


def test_out_of_range_parameter_is_invalid_argument_with_details(client: OcrClient,
                                                                 page_png: bytes) -> None:
    with pytest.raises(InvalidArgument, match="box_thresh") as info:
        client.detect([page_png], box_thresh=2.0, request_id="compat-id-17")
    error = info.value
    assert error.code == "INVALID_ARGUMENT"
    assert error.reason == "PARAMETER_OUT_OF_RANGE"
    assert [v.field for v in error.field_violations] == ["detection.box_thresh"]
    assert error.metadata["field"] == "detection.box_thresh"
    assert error.request_id == "compat-id-17"


def test_unknown_language_is_not_found(client: OcrClient, page_png: bytes) -> None:
    with pytest.raises(NotFound) as info:
        client.ocr([page_png], language="klingon")
    assert info.value.reason == "SLOT_NOT_FOUND"
    assert [v.field for v in info.value.field_violations] == ["recognition.slot"]
    assert info.value.request_id  # the server makes one up when the caller sent none


def test_an_undecodable_image_fails_alone(client: OcrClient, page: Image.Image,
                                          page_png: bytes) -> None:
    first, bad, last = client.ocr([page_png, b"not an image at all", page_png],
                                  request_id="compat-batch")
    assert_reads_page(first, page)
    assert_reads_page(last, page)
    assert isinstance(bad.error, InvalidArgument) and not bad.lines
    assert bad.error.reason == "IMAGE_UNDECODABLE"
    assert bad.error.image_index == 1
    assert [v.field for v in bad.error.field_violations] == ["images[1].encoded"]
    assert bad.error.request_id == "compat-batch"


def test_strict_raises_the_failed_images_error(client: OcrClient, page_png: bytes) -> None:
    with pytest.raises(InvalidArgument) as info:
        client.ocr([page_png, b"garbage"], strict=True)
    assert info.value.reason == "IMAGE_UNDECODABLE" and info.value.image_index == 1


# ---------------------------------------------------------------- call options


def test_call_options(client: OcrClient, page: Image.Image, page_png: bytes) -> None:
    assert_reads_page(client.ocr_one(page_png, timeout=None), page)
    assert_reads_page(client.ocr_one(page_png, wait_for_ready=True, timeout=30), page)
    assert_reads_page(client.ocr_one(page_png, metadata=[("x-custom", "1")],
                                     request_id="compat-ok", priority="high"), page)
    assert client.health(timeout=None, wait_for_ready=True) == "SERVING"


def test_client_wide_options(server: str, page: Image.Image, page_png: bytes) -> None:
    with OcrClient(server, timeout=None, wait_for_ready=True, retries=0,
                   metadata=[("x-custom", "1")]) as c:
        assert_reads_page(c.ocr_one(page_png), page)


# ---------------------------------------------------------------- async client


def test_async_client(server: str, page: Image.Image, page_png: bytes,
                      line_image: Image.Image) -> None:
    async def scenario() -> dict[str, Any]:
        async with AsyncOcrClient(server, timeout=60) as c:
            out: dict[str, Any] = {
                "ocr": await c.ocr([page_png, b"garbage"], metadata=[("x-custom", "1")]),
                "one": await c.ocr_one(page_png, timeout=None, wait_for_ready=True),
                "detect": await c.detect([page_png]),
                "classify": await c.classify([png(line_image.rotate(180))]),
                "recognize": await c.recognize([png(line_image)]),
                "info": await c.get_server_info(),
                "health": await c.health(),
                "slots": await c.list_slots(),
                "catalog": await c.list_catalog(),
            }
            try:
                await c.detect([page_png], box_thresh=-1.0, request_id="compat-async")
            except InvalidArgument as exc:
                out["range"] = exc
            try:
                await c.recognize([png(line_image)], language="klingon")
            except NotFound as exc:
                out["missing"] = exc
            return out

    out = asyncio.run(scenario())
    good, bad = out["ocr"]
    assert_reads_page(good, page)
    assert bad.error.reason == "IMAGE_UNDECODABLE" and bad.error.image_index == 1
    assert_reads_page(out["one"], page)
    assert len(out["detect"][0].boxes) == len(PAGE_LINES)
    assert out["classify"][0].angle == 180
    assert squashed([out["recognize"][0].text]) == squashed([LINE_TEXT])
    assert out["info"].api_version == "ocr.v1"
    assert out["health"] == "SERVING"
    assert {slot.slot for slot in out["slots"]} >= {"det", "cls", "rec"}
    assert any(model.installed for model in out["catalog"])
    assert out["range"].reason == "PARAMETER_OUT_OF_RANGE"
    assert [v.field for v in out["range"].field_violations] == ["detection.box_thresh"]
    assert out["range"].request_id == "compat-async"
    assert out["missing"].reason == "SLOT_NOT_FOUND"


# ------------------------------------------------------------------------- CLI


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ocrclient.cli", *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_ocr_and_info(server: str, client: OcrClient, page_png: bytes,
                          tmp_path: Path) -> None:
    path = tmp_path / "page.png"
    path.write_bytes(page_png)
    ocr = cli("--server", server, "ocr", str(path))
    assert ocr.returncode == 0, ocr.stderr
    assert all(text in ocr.stdout.replace(" ", "") for text in squashed(PAGE_LINES)), ocr.stdout
    info = cli("--server", server, "info")
    assert info.returncode == 0, info.stderr
    assert client.get_server_info().server_version in info.stdout
