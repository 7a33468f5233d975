"""Annotated copies of images for ``ocr-client --draw``: boxes as polygons.

Pillow is optional (``pip install 'ocrclient[draw]'``); :func:`require_pillow`
fails with one clear error before any request is sent.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Sequence
from pathlib import Path

from ocrclient._errors import FailedPrecondition
from ocrclient._types import Box

OUTLINE = (255, 0, 0)


def require_pillow() -> None:
    """Raise FailedPrecondition, saying how to install it, when Pillow is missing."""
    if importlib.util.find_spec("PIL") is None:
        raise FailedPrecondition("--draw needs Pillow: pip install 'ocrclient[draw]'")


def output_names(paths: Sequence[str]) -> list[str]:
    """File names for the annotated copies: the input names, numbered when they clash."""
    names: list[str] = []
    for index, path in enumerate(paths):
        name = Path(path).name
        names.append(f"{index}_{name}" if name in names else name)
    return names


def draw_boxes(source: str, boxes: Iterable[Box], destination: Path) -> None:
    """Write ``source`` with each box outlined to ``destination``."""
    require_pillow()
    from PIL import Image, ImageDraw

    # No EXIF transpose: the server decodes like PaddleOCR (cv2.IMREAD_UNCHANGED),
    # which ignores the orientation tag, so boxes refer to the stored pixels.
    with Image.open(source) as opened:
        image = opened.convert("RGB")
    width = max(2, round(min(image.size) / 300))
    draw = ImageDraw.Draw(image)
    for box in boxes:
        draw.polygon(list(box), outline=OUTLINE, width=width)
    image.save(destination)
