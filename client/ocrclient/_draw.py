"""Annotated copies of images for ``ocr-client --draw``.

Two views:

- ``side-by-side`` (the layout of PaddleOCR's ``draw_ocr_box_txt``): a canvas
  twice the image's width.  Left, the image with every box filled
  semi-transparently in its own colour; right, a white panel of the same size
  with the same boxes outlined and each line's text written inside its box,
  the font fitted to the box's height (and shrunk to its length), turned with
  the box when the box is skewed, stacked downwards when the box is tall and
  narrow (vertical text).  For ``detect`` the panel shows each box's index and
  score instead of text.
- ``boxes``: the image at its own size with the boxes filled and outlined.

Colours are picked per box index by golden-ratio hue steps, so they look
random, neighbours differ, and the same input always gives the same picture.

Output files are never the inputs: :func:`output_paths` names them
``<stem>.<tag>.png`` (tag ``ocr`` or ``det``), numbers them ``<stem>-2.<tag>.png``
... when two would clash or when one would be an input file itself, and
:func:`save_image` checks again just before writing.

Pillow is optional (``pip install 'ocrclient[draw]'``): :func:`require_pillow`
fails with a :class:`DrawError` before any request is sent.  Text needs a font
with CJK glyphs to show Chinese and Japanese: :func:`find_font` looks for one
(``--font`` overrides), falling back to DejaVu Sans or Pillow's built-in font
with a warning.
"""

from __future__ import annotations

import colorsys
import functools
import importlib.util
import math
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ocrclient._types import Box

DrawStyle = Literal["side-by-side", "boxes"]
DRAW_STYLES: tuple[DrawStyle, ...] = ("side-by-side", "boxes")

#: Fonts with CJK glyphs at their usual places (Debian/Ubuntu, Fedora, Arch, macOS, Windows).
CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/Hiragino Sans GB.ttc",
    "/Library/Fonts/Arial Unicode.ttf",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simsun.ttc",
)
#: Latin fallbacks when no CJK font is found.
FALLBACK_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:/Windows/Fonts/arial.ttf",
)

FILL_ALPHA = 90      # box fill on the image, out of 255
TEXT_COLOUR = (0, 0, 0)
MIN_FONT_SIZE = 6


class DrawError(Exception):
    """A local problem with drawing (no Pillow, a bad font, an unwritable path)."""


def require_pillow() -> None:
    """Raise DrawError, saying how to install it, when Pillow is missing."""
    if importlib.util.find_spec("PIL") is None:
        raise DrawError("--draw needs Pillow: pip install 'ocrclient[draw]'")


# ---------------------------------------------------------------- naming


def output_paths(inputs: Sequence[str], directory: Path, tag: str) -> list[Path]:
    """Where the annotated copy of each input goes: ``directory/<stem>.<tag>.png``.

    A name that clashes with an earlier output, or that is (or links to) one of
    the inputs, is numbered instead: ``<stem>-2.<tag>.png``, ``-3``, ...
    Names are compared case-insensitively, so the result is also safe on
    case-insensitive file systems.  Existing files that are not inputs are
    overwritten when written: they are taken to be an earlier run's output.
    """
    forbidden = {_key(Path(path)) for path in inputs}
    identities = {identity for path in inputs if (identity := _identity(Path(path)))}
    taken: set[str] = set()
    outputs = []
    for path in inputs:
        stem = Path(path).stem or "image"
        number = 1
        while True:
            name = f"{stem}.{tag}.png" if number == 1 else f"{stem}-{number}.{tag}.png"
            candidate = directory / name
            key = _key(candidate)
            if key not in taken and key not in forbidden and \
                    _identity(candidate) not in identities:
                break
            number += 1
        taken.add(key)
        outputs.append(candidate)
    return outputs


def _key(path: Path) -> str:
    return os.path.normcase(os.path.realpath(path)).casefold()


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of an existing file: catches hard links and other aliases."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def save_image(image: Any, destination: Path, inputs: Sequence[str]) -> None:
    """Save as PNG, refusing (DrawError) if ``destination`` is one of the ``inputs``."""
    identity = _identity(destination)
    key = _key(destination)
    for path in inputs:
        if _key(Path(path)) == key or (identity is not None and _identity(Path(path)) == identity):
            raise DrawError(f"refusing to overwrite input {path} with {destination}")
    image.save(destination, format="PNG")


# ---------------------------------------------------------------- fonts


@dataclass(frozen=True)
class FontChoice:
    """The font to write text with (None: Pillow's built-in), and a warning to show once."""

    path: str | None
    warning: str | None = None


def find_font(explicit: str | None = None, *, candidates: Sequence[str] = CJK_FONTS,
              fallbacks: Sequence[str] = FALLBACK_FONTS, use_fontconfig: bool = True
              ) -> FontChoice:
    """A CJK-capable font: ``explicit`` (``--font``), a known path, or fontconfig's choice.

    Without one: DejaVu Sans (or another Latin font) or Pillow's built-in font, with
    a warning that CJK text will not show.  An ``explicit`` font that cannot be
    opened raises DrawError.
    """
    require_pillow()
    if explicit is not None:
        _check_font(explicit)
        return FontChoice(explicit)
    for path in candidates:
        if os.path.isfile(path):
            return FontChoice(path)
    found = _fontconfig_cjk_font() if use_fontconfig else None
    if found is not None:
        return FontChoice(found)
    hint = "CJK text will show as boxes; pass --font PATH (e.g. Noto Sans CJK or WenQuanYi)"
    for path in fallbacks:
        if os.path.isfile(path):
            return FontChoice(path, f"warning: no CJK font found, using {path}: {hint}")
    return FontChoice(None, f"warning: no TrueType font found, using Pillow's built-in font: "
                            f"{hint}")


def _check_font(path: str) -> None:
    from PIL import ImageFont

    try:
        ImageFont.truetype(path, 12)
    except OSError as exc:
        raise DrawError(f"--font {path}: cannot open it as a font ({exc})") from exc


def _fontconfig_cjk_font() -> str | None:
    """The first font fontconfig lists as covering Chinese, if fc-list exists."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    try:
        listed = subprocess.run([fc_list, ":lang=zh", "file"], capture_output=True, text=True,
                                timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    files = sorted(line.strip().rstrip(":") for line in listed.splitlines() if line.strip())
    files = [f for f in files if f.lower().endswith((".ttf", ".ttc", ".otf", ".otc"))]
    regular = [f for f in files if "bold" not in f.lower()]
    return next(iter(regular or files), None)


@functools.lru_cache(maxsize=64)
def _font(path: str | None, size: int) -> Any:
    from PIL import ImageFont

    if path is not None:
        return ImageFont.truetype(path, size)
    try:
        return ImageFont.load_default(size)
    except TypeError:  # Pillow before 10.1: one size only
        return ImageFont.load_default()


# ---------------------------------------------------------------- geometry


def box_colour(index: int) -> tuple[int, int, int]:
    """A saturated colour per box index: golden-ratio hue steps, so neighbours differ."""
    hue = (0.1 + index * 0.618033988749895) % 1.0
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.75, 0.9)
    return round(red * 255), round(green * 255), round(blue * 255)


@dataclass(frozen=True)
class BoxFrame:
    """A box as a turned rectangle: centre, side lengths, angle of its top edge (degrees)."""

    cx: float
    cy: float
    width: float
    height: float
    angle: float


def box_frame(box: Box) -> BoxFrame:
    """Quads (clockwise from top-left, as the server returns them) keep their angle;
    polygons get their axis-aligned bounding rectangle."""
    xs = [x for x, _ in box]
    ys = [y for _, y in box]
    cx, cy = sum(xs) / len(xs), sum(ys) / len(ys)
    if len(box) != 4:
        return BoxFrame((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2,
                        max(xs) - min(xs), max(ys) - min(ys), 0.0)
    p0, p1, p2, p3 = box
    width = (math.dist(p0, p1) + math.dist(p3, p2)) / 2
    height = (math.dist(p1, p2) + math.dist(p0, p3)) / 2
    angle = math.degrees(math.atan2(p1[1] - p0[1], p1[0] - p0[0]))
    return BoxFrame(cx, cy, width, height, angle)


def _line_width(size: tuple[int, int]) -> int:
    return max(2, round(min(size) / 300))


# ---------------------------------------------------------------- drawing


def _open_rgb(source: str) -> Any:
    from PIL import Image

    # No EXIF transpose: the server decodes like PaddleOCR (cv2.IMREAD_UNCHANGED),
    # which ignores the orientation tag, so boxes refer to the stored pixels.
    with Image.open(source) as opened:
        return opened.convert("RGB")


def _filled_boxes(image: Any, boxes: Sequence[Box]) -> Any:
    """``image`` with each box filled semi-transparently and outlined in its colour."""
    from PIL import Image, ImageDraw

    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    width = _line_width(image.size)
    for index, box in enumerate(boxes):
        colour = box_colour(index)
        draw.polygon(list(box), fill=(*colour, FILL_ALPHA), outline=(*colour, 255), width=width)
    return Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")


def draw_boxes(source: str, boxes: Sequence[Box]) -> Any:
    """The ``boxes`` view: the image at its size, boxes filled and outlined."""
    require_pillow()
    return _filled_boxes(_open_rgb(source), boxes)


def draw_side_by_side(source: str, boxes: Sequence[Box], texts: Sequence[str],
                      font: FontChoice) -> Any:
    """The ``side-by-side`` view: boxes on the image (left), texts in their boxes (right)."""
    require_pillow()
    from PIL import Image, ImageDraw

    if len(boxes) != len(texts):
        raise ValueError(f"{len(boxes)} boxes but {len(texts)} texts")
    image = _open_rgb(source)
    panel = Image.new("RGB", image.size, "white")
    draw = ImageDraw.Draw(panel)
    width = max(1, _line_width(image.size) // 2)
    for index, (box, text) in enumerate(zip(boxes, texts, strict=True)):
        draw.polygon(list(box), outline=box_colour(index), width=width)
        write_in_box(panel, box, text, font)
    canvas = Image.new("RGB", (image.width * 2, image.height), "white")
    canvas.paste(_filled_boxes(image, boxes), (0, 0))
    canvas.paste(panel, (image.width, 0))
    return canvas


def write_in_box(panel: Any, box: Box, text: str, font: FontChoice) -> None:
    """Write ``text`` into ``box`` on ``panel``: sized to the box, turned with it."""
    from PIL import Image, ImageDraw

    frame = box_frame(box)
    text = "".join(char for char in text if char.isprintable())  # no control characters
    if not text.strip() or frame.width < 2 or frame.height < 2:
        return
    vertical = frame.height > 2 * frame.width and len(text) > 1
    tile_size = (max(1, math.ceil(frame.width)), max(1, math.ceil(frame.height)))
    tile = Image.new("L", tile_size, 0)
    draw = ImageDraw.Draw(tile)
    if vertical:
        step = frame.height / len(text)
        widest = max(text, key=lambda char: _length(font, char, 100))
        face = _font(font.path, _fit(font, widest, frame.width, step))
        for row, char in enumerate(text):
            _centred(draw, char, face, frame.width / 2, (row + 0.5) * step)
    else:
        face = _font(font.path, _fit(font, text, frame.width, frame.height))
        left, top, _, bottom = face.getbbox(text)
        draw.text((-left, (frame.height - (bottom - top)) / 2 - top), text, fill=255, font=face)
    if abs(frame.angle) > 0.5:
        tile = tile.rotate(-frame.angle, resample=Image.Resampling.BICUBIC, expand=True)
    ink = Image.new("RGB", tile.size, TEXT_COLOUR)
    corner = (round(frame.cx - tile.width / 2), round(frame.cy - tile.height / 2))
    panel.paste(ink, corner, tile)


def _centred(draw: Any, text: str, face: Any, x: float, y: float) -> None:
    left, top, right, bottom = face.getbbox(text)
    draw.text((x - (left + right) / 2, y - (top + bottom) / 2), text, fill=255, font=face)


def _length(font: FontChoice, text: str, size: int) -> float:
    face = _font(font.path, size)
    return float(face.getlength(text)) if hasattr(face, "getlength") else size * len(text)


def _fit(font: FontChoice, text: str, width: float, height: float) -> int:
    """Font size: 80% of the box height, shrunk until the text fits the width."""
    size = max(MIN_FONT_SIZE, int(height * 0.8))
    length = _length(font, text, size)
    if length > width > 0:
        size = max(MIN_FONT_SIZE, int(size * width / length))
    return size
