"""Slot specifications: which model serves which slot.

A slot is a named place that serves one model: ``det``, ``cls``, ``rec`` and
further recognizers ``rec:<language>`` (``det:<name>``/``cls:<name>`` work the
same way).  The part before ``:`` is the model kind.  A spec is written
``SLOT=MODEL[@VERSION][@FORMAT]`` where MODEL is an installed name or the
folder of an installed version; ``@onnx``/``@paddle`` picks the latest version
of that format when a name is installed in both (after a version, it must be
that version's format).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ocrserve.errors import InvalidInput
from ocrserve.models.catalog import KINDS
from ocrserve.models.repository import (
    FORMATS,
    InstalledModel,
    ModelRepository,
    check_name,
    is_valid_name,
    read_manifest,
)


@dataclass(frozen=True)
class SlotSpec:
    slot: str
    model: str
    version: int | None = None
    format: str | None = None

    @property
    def kind(self) -> str:
        return slot_kind(self.slot)

    @property
    def text(self) -> str:
        """``SLOT=MODEL[@VERSION][@FORMAT]``: what :func:`parse_slot_spec` reads back."""
        version = f"@{self.version}" if self.version is not None else ""
        fmt = f"@{self.format}" if self.format is not None else ""
        return f"{self.slot}={self.model}{version}{fmt}"


def slot_kind(slot: str) -> str:
    return slot.split(":", 1)[0]


def is_valid_slot(slot: str) -> bool:
    """``KIND`` or ``KIND:NAME`` with NAME a valid model-style name: slot names end up
    in metric labels, logs and status messages, so they follow one strict rule."""
    kind, sep, name = slot.partition(":")
    return kind in KINDS and (not sep or is_valid_name(name))


def check_slot(slot: str, field: str = "slot") -> None:
    """InvalidInput naming ``field`` unless :func:`is_valid_slot` holds."""
    if not is_valid_slot(slot):
        raise InvalidInput(
            f"invalid slot {slot!r} in {field}: expected {', '.join(KINDS)} or KIND:NAME with "
            "NAME 1-128 letters, digits, '.', '_', '-' (e.g. rec:french)", field=field)


def normalize_slot(name: str, kind: str) -> str:
    """Map a request's slot field to a slot name: '' -> kind, 'french' -> 'rec:french'."""
    if not name:
        return kind
    if name == kind or name.startswith(kind + ":"):
        return name
    if ":" in name or name in KINDS:
        raise InvalidInput(f"slot {name!r} is not a {kind} slot")
    return f"{kind}:{name}"


def parse_slot_spec(text: str) -> SlotSpec:
    slot, sep, model = text.partition("=")
    slot, model = slot.strip(), model.strip()
    if not sep or not model or not is_valid_slot(slot):
        raise InvalidInput(
            f"bad slot spec {text!r}: expected SLOT=MODEL[@VERSION] with SLOT one of "
            f"{', '.join(KINDS)} or KIND:NAME (e.g. rec:french=french_mobile_v2.0_rec)",
            field="slot")
    spec = _split_model(slot, model)
    if "/" not in spec.model:  # a version folder's path is checked by its manifest
        check_name(spec.model, field=f"slot {slot}")
    return spec


def _split_model(slot: str, model: str) -> SlotSpec:
    """``NAME[@VERSION][@FORMAT]`` into its parts."""
    name, at, qualifier = model.rpartition("@")
    if at and qualifier in FORMATS:
        versioned, at, version = name.rpartition("@")
        if at and version.isdigit():
            return SlotSpec(slot=slot, model=versioned, version=int(version), format=qualifier)
        return SlotSpec(slot=slot, model=name, format=qualifier)
    if at and qualifier.isdigit():
        return SlotSpec(slot=slot, model=name, version=int(qualifier))
    return SlotSpec(slot=slot, model=model)


def parse_slot_specs(texts: Iterable[str]) -> list[SlotSpec]:
    specs = [parse_slot_spec(t) for t in texts]
    seen: set[str] = set()
    for spec in specs:
        if spec.slot in seen:
            raise InvalidInput(f"slot {spec.slot!r} is given twice")
        seen.add(spec.slot)
    if not any(s.kind == "det" for s in specs) and not any(s.kind == "rec" for s in specs):
        raise InvalidInput("no det or rec slot configured: nothing to serve")
    return specs


def resolve_model(repo: ModelRepository, spec: SlotSpec) -> InstalledModel:
    """The installed model a spec names, checked to be of the slot's kind."""
    if "/" in spec.model:
        folder = Path(spec.model)
        if not (folder / "manifest.json").is_file():
            raise InvalidInput(
                f"slot {spec.slot}: {folder} is not an installed model version (no "
                f"manifest.json); install it first: ocr-models import NAME {folder}"
            )
        model = read_manifest(folder)
    else:
        model = repo.get(spec.model, spec.version, format=spec.format)
    if model.kind != spec.kind:
        raise InvalidInput(f"slot {spec.slot} needs a {spec.kind} model, but {model.name} "
                           f"is a {model.kind} model")
    return model
