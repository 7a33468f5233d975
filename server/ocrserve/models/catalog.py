"""The catalog: every PaddleOCR model this server knows by name.

The catalog is packaged data (``catalog.json`` and ``dicts/``), not a registry
of what is installed: it says what a model *is* (kind, input shape, dictionary,
official download), which the model files themselves do not reliably say
(docs/facts.md#dictionaries-and-input-shapes).  Installed copies live in
:mod:`ocrserve.models.repository`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any

from ocrserve.errors import ModelError, NotFound, Reason

#: Model kinds, in pipeline order: what a slot, an install and the catalog may name.
KINDS = ("det", "cls", "rec")

_PACKAGE = "ocrserve.models"

#: Classes a CTC recognizer has beyond its dictionary: the blank (index 0) and
#: the space PaddleOCR appends after the last dictionary line.
EXTRA_REC_CLASSES = 2

InputShape = tuple[int | None, ...]


@dataclass(frozen=True)
class CatalogEntry:
    """One known model.  ``input_shape`` is [C, H, W] with None where the model
    accepts any size; ``base_width`` is the narrowest width a rec batch is padded
    to (PaddleOCR's ``rec_image_shape`` width)."""

    name: str
    kind: str
    slim: bool
    language: str
    size: str
    dictionary: str | None
    input_shape: InputShape
    base_width: int | None
    inference_url: str
    trained_url: str | None
    extra: bool


def _entry_from_json(raw: dict[str, Any]) -> CatalogEntry:
    return CatalogEntry(
        name=raw["name"],
        kind=raw["kind"],
        slim=raw["slim"],
        language=raw["language"],
        size=raw["size"],
        dictionary=raw["dictionary"],
        input_shape=tuple(raw["input_shape"]),
        base_width=raw["base_width"],
        inference_url=raw["inference_url"],
        trained_url=raw["trained_url"],
        extra=raw["extra"],
    )


@cache
def load_catalog() -> dict[str, CatalogEntry]:
    """All entries by name, in catalog order (the user's list first, then extras)."""
    text = resources.files(_PACKAGE).joinpath("catalog.json").read_text(encoding="utf-8")
    entries = [_entry_from_json(raw) for raw in json.loads(text)["models"]]
    return {entry.name: entry for entry in entries}


def get_entry(name: str) -> CatalogEntry:
    try:
        return load_catalog()[name]
    except KeyError:
        raise NotFound(f"model {name!r} is not in the catalog",
                       reason=Reason.MODEL_NOT_FOUND) from None


def dictionary_path(entry: CatalogEntry) -> Path:
    """The packaged dictionary file of a rec entry."""
    if entry.dictionary is None:
        raise NotFound(f"model {entry.name!r} ({entry.kind}) has no dictionary",
                       reason=Reason.MODEL_NOT_FOUND)
    path = resources.files(_PACKAGE).joinpath("dicts", entry.dictionary)
    if not isinstance(path, Path) or not path.is_file():
        raise ModelError(f"packaged dictionary {entry.dictionary!r} is missing")
    return path


def dictionary_lines(path: str | PathLike[str]) -> list[str]:
    """The characters of a dictionary, exactly as PaddleOCR's CTCLabelDecode reads them.

    The file is UTF-8, split on ``\\n`` only (``readlines`` of the bytes), and each line loses
    the ``\\r``/``\\n`` at its ends and nothing else: some lines are a lone space, U+3000 or
    end in a tab, and the model's class indices count every line.  This is the project's one
    dictionary reader, so the class count checked at install and load and the decoder's
    characters cannot disagree (docs/facts.md#reference-pipeline).
    """
    data = Path(path).read_bytes()
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    try:
        return [line.decode("utf-8").strip("\r\n") for line in lines]
    except UnicodeDecodeError as exc:
        raise ModelError(f"dictionary {path} is not UTF-8: {exc}") from exc


def rec_num_classes(dictionary: Path) -> int:
    """The output size a recognizer using ``dictionary`` must have."""
    return len(dictionary_lines(dictionary)) + EXTRA_REC_CLASSES
