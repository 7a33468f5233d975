"""The on-disk model repository: installed models, one folder per version.

Layout::

    <root>/<name>/<version>/inference.pdmodel, inference.pdiparams[, .info]   (format "paddle")
                           model.onnx                                       (format "onnx")
                           dict.txt                                         (rec models)
                           manifest.json
    <root>/.staging-*/     installs in progress; readers skip names starting with "."
    <root>/.exports/<name>/<version>/   what a runtime derived from that version (the torch
                           backend's ONNX export of a Paddle model); removed with it

Contracts:

- Versions are integers 1, 2, 3, ... per name, whatever the format; a new install of a
  name gets the next one, so hot-swap can move between versions.  One name may hold
  several formats (install-defaults installs ``ch_ppocr_mobile_v2.0_cls`` as ONNX and as
  Paddle): ``get(name)`` returns the latest version, ``get(name, format="paddle")`` the
  latest of that format.
- A version folder is complete or absent.  An install builds it under a staging name in
  the root, fsyncs the manifest last and renames the folder into place; renaming onto an
  existing folder fails, so concurrent installs never share a version number.
- ``manifest.json`` holds the sha256 and size of every file in the folder; ``verify``
  (and every load, in the engine) checks them, and refuses files it does not list.
  Each listed name is one plain component of that folder; a manifest naming anything
  else (``../x``, ``/x``, ``a/b``) is refused like an unreadable one.
  A version folder without a readable manifest is skipped (logged), never served.
- ``num_classes`` of a rec model is dictionary lines + 2
  (docs/facts.md#dictionaries-and-input-shapes); the runtime layer checks it against the
  model's output.  It is None for det and cls.
"""

from __future__ import annotations

import builtins
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ocrserve.errors import InvalidInput, ModelError, NotFound, Reason
from ocrserve.models.catalog import (
    KINDS,
    InputShape,
    dictionary_path,
    load_catalog,
    rec_num_classes,
)

log = logging.getLogger(__name__)

FORMATS = ("paddle", "onnx")
MANIFEST = "manifest.json"
DICTIONARY = "dict.txt"
ONNX_FILE = "model.onnx"
PADDLE_STEM = "inference"
EXPORTS = ".exports"
_PADDLE_STEMS = ("inference", "model")  # the names Paddle's exporters write
_PADDLE_SUFFIXES = (".pdmodel", ".pdiparams", ".pdiparams.info")
#: Model names and the NAME of a ``KIND:NAME`` slot: one path component at most 128
#: long, never ``..`` (the leading character already rules out ``.`` and ``..``
#: alone; the rule also keeps names out of ``a..b`` tricks in paths built from them).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_VERSION = re.compile(r"[1-9][0-9]{0,8}")


def default_root() -> Path:
    """``$OCR_MODEL_REPOSITORY``, else ``./models``."""
    return Path(os.environ.get("OCR_MODEL_REPOSITORY", "models"))


@dataclass(frozen=True)
class InstalledModel:
    """One installed version, as its manifest describes it.  ``path`` is the
    version folder; ``files`` maps each file in it to its sha256, ``sizes`` to its
    size in bytes (empty for manifests written before sizes were recorded)."""

    name: str
    version: int
    kind: str
    format: str
    path: Path
    input_shape: InputShape
    num_classes: int | None
    dictionary: Path | None
    files: dict[str, str]
    source: str
    sizes: dict[str, int] = field(default_factory=dict)

    @property
    def size_bytes(self) -> int:
        """The size of its files now (those present): a floor for its memory once loaded."""
        sizes = ((self.path / name) for name in self.files)
        return sum(p.stat().st_size for p in sizes if p.is_file())


def sha256_file(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def plan_model_files(filenames: Iterable[str]) -> tuple[str, dict[str, str]]:
    """Find the model among ``filenames`` (names in one folder).

    Returns the format and ``{found name: installed name}``: an ONNX model is any
    one ``*.onnx`` file; a Paddle model is ``inference.*`` or ``model.*`` with
    ``.pdmodel`` and ``.pdiparams`` (and ``.pdiparams.info`` when present).  Other
    files are not part of the model and are left out."""
    names = set(filenames)
    onnx = sorted(n for n in names if n.endswith(".onnx"))
    stems = [s for s in _PADDLE_STEMS if {f"{s}.pdmodel", f"{s}.pdiparams"} <= names]
    if onnx and stems:
        raise InvalidInput(f"both ONNX and Paddle model files found: {onnx + stems}")
    if len(onnx) > 1 or len(stems) > 1:
        raise InvalidInput(f"several models in one folder: {onnx or stems}")
    if onnx:
        return "onnx", {onnx[0]: ONNX_FILE}
    if stems:
        found = [stems[0] + suffix for suffix in _PADDLE_SUFFIXES]
        return "paddle", {n: PADDLE_STEM + n.removeprefix(stems[0]) for n in found if n in names}
    raise InvalidInput(
        "no model files: expected one *.onnx, or inference.pdmodel + inference.pdiparams"
    )


@dataclass(frozen=True)
class _Spec:
    kind: str
    input_shape: InputShape
    dictionary: Path | None


def is_valid_name(name: str) -> bool:
    """Whether ``name`` may name a model or a slot: it becomes a folder name, so it
    must be one safe path component."""
    return _NAME.fullmatch(name) is not None and ".." not in name


def check_name(name: str, field: str = "name", what: str = "model name") -> None:
    """InvalidInput naming ``field`` unless :func:`is_valid_name` holds."""
    if not is_valid_name(name):
        raise InvalidInput(
            f"invalid {what} {name!r} in {field}: 1-128 letters, digits, '.', '_', '-', "
            "starting with a letter or digit, no '..'", field=field)


def check_version(version: int, field: str = "version") -> None:
    """Versions are folder names too: positive integers of at most 9 digits."""
    if _VERSION.fullmatch(str(version)) is None:
        raise InvalidInput(f"invalid model version {version!r} in {field}: expected 1 to "
                           "999999999", field=field)


def _check_shape(shape: InputShape) -> None:
    if len(shape) != 3 or any(d is not None and d <= 0 for d in shape):
        raise InvalidInput(f"input_shape must be [C, H, W] (None where dynamic), got {shape}")


def _resolve_spec(
    name: str, kind: str | None, input_shape: InputShape | None, dictionary: Path | None
) -> _Spec:
    """Fill what the caller left out from the catalog; unknown names must say it all."""
    entry = load_catalog().get(name)
    if entry is not None and kind not in (None, entry.kind):
        raise InvalidInput(f"{name} is a {entry.kind} model in the catalog, not {kind}")
    kind = kind or (entry.kind if entry else None)
    input_shape = input_shape or (entry.input_shape if entry else None)
    if kind is None or input_shape is None:
        raise InvalidInput(f"{name} is not in the catalog: give its kind and input shape")
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {KINDS}, got {kind!r}")
    _check_shape(input_shape)
    if dictionary is None and entry is not None and entry.dictionary is not None:
        dictionary = dictionary_path(entry)
    if kind == "rec" and dictionary is None:
        raise InvalidInput(f"{name} is a rec model: give its dictionary")
    if kind != "rec" and dictionary is not None:
        raise InvalidInput(f"{name} is a {kind} model: it takes no dictionary")
    if dictionary is not None and not dictionary.is_file():
        raise NotFound(f"dictionary {dictionary} does not exist", reason=Reason.MODEL_NOT_FOUND)
    return _Spec(kind, tuple(input_shape), dictionary)


def _write_json_durably(path: Path, data: dict[str, Any]) -> None:
    with path.open("w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_manifest(version_dir: Path) -> InstalledModel:
    """Parse a version folder's manifest; ModelError when it is missing, malformed
    or disagrees with the folder it sits in."""
    try:
        raw = json.loads((version_dir / MANIFEST).read_text(encoding="utf-8"))
        model = InstalledModel(
            name=raw["name"],
            version=int(raw["version"]),
            kind=raw["kind"],
            format=raw["format"],
            path=version_dir,
            input_shape=tuple(raw["input_shape"]),
            num_classes=raw["num_classes"],
            dictionary=version_dir / DICTIONARY if DICTIONARY in raw["files"] else None,
            files=dict(raw["files"]),
            source=raw["source"],
            sizes={name: int(size) for name, size in raw.get("sizes", {}).items()},
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{version_dir}: unreadable manifest ({exc!r})") from None
    if (model.name, str(model.version)) != (version_dir.parent.name, version_dir.name):
        raise ModelError(f"{version_dir}: manifest names {model.name} v{model.version}")
    for filename in model.files:
        if not is_plain_filename(filename):
            raise ModelError(f"{version_dir}: manifest lists {filename!r}, not a file name "
                             "in its folder")
    return model


def is_plain_filename(name: object) -> bool:
    """Whether ``name`` is one path component naming an entry of its own folder.  A
    manifest's file names are joined to the version folder to hash, size and load
    them, and a manifest is plain JSON anyone with write access may edit: a name
    with a separator (``../x``, ``/etc/x``, ``a\\b``), ``.``, ``..`` or nothing
    would point outside it or at the folder itself.  Absolute names need a
    separator, so refusing both separators refuses them too."""
    return (isinstance(name, str) and name not in ("", ".", "..")
            and not any(c in name for c in "/\\\0"))


class ModelRepository:
    """Installed models under ``root`` (see the module docstring for the layout)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()

    # -- reading ----------------------------------------------------------------

    def _version_dirs(self, name: str | None = None) -> Iterator[Path]:
        """Version folders, sorted by name then version; broken ones included."""
        if not self.root.is_dir():
            return
        name_dirs = [self.root / name] if name else sorted(self.root.iterdir())
        for name_dir in name_dirs:
            if not is_valid_name(name_dir.name) or not name_dir.is_dir():
                continue  # staging folders (".staging-*") and foreign names alike
            versions = [p for p in name_dir.iterdir()
                        if _VERSION.fullmatch(p.name) and p.is_dir()]
            yield from sorted(versions, key=lambda p: int(p.name))

    def list(self) -> list[InstalledModel]:
        """Every readable installed version; broken ones are logged (verify reports them)."""
        models = []
        for version_dir in self._version_dirs():
            try:
                models.append(read_manifest(version_dir))
            except ModelError as exc:
                log.warning("skipping %s", exc)
        return models

    def get(
        self, name: str, version: int | None = None, *, format: str | None = None
    ) -> InstalledModel:
        """One installed version: ``version``, else the latest (of ``format`` if given)."""
        check_name(name)
        if version is not None:
            check_version(version)
            version_dir = self.root / name / str(version)
            if not (version_dir / MANIFEST).is_file():
                raise NotFound(f"model {name} has no installed version {version}",
                               reason=Reason.MODEL_NOT_FOUND)
            model = read_manifest(version_dir)
            if format not in (None, model.format):
                raise NotFound(f"model {name} v{version} is {model.format}, not {format}",
                               reason=Reason.MODEL_NOT_FOUND)
            return model
        candidates = [
            m for m in self.list() if m.name == name and format in (None, m.format)
        ]
        if not candidates:
            what = f"a {format} version of model {name}" if format else f"model {name}"
            raise NotFound(f"{what} is not installed", reason=Reason.MODEL_NOT_FOUND)
        return candidates[-1]

    def verify(self, name: str | None = None) -> builtins.list[str]:
        """Problems found by re-hashing every file against its manifest; [] when sound."""
        if name is not None:
            check_name(name)
        version_dirs = list(self._version_dirs(name))
        if name is not None and not version_dirs:
            raise NotFound(f"model {name} is not installed", reason=Reason.MODEL_NOT_FOUND)
        problems = []
        for version_dir in version_dirs:
            try:
                model = read_manifest(version_dir)
            except ModelError as exc:
                problems.append(str(exc))
                continue
            problems.extend(file_problems(model))
        return problems

    # -- writing ----------------------------------------------------------------

    def install_dir(
        self,
        name: str,
        src_dir: Path,
        *,
        source: str,
        kind: str | None = None,
        input_shape: InputShape | None = None,
        dictionary: Path | None = None,
    ) -> InstalledModel:
        """Install the model found in ``src_dir`` as the next version of ``name``.

        File names are normalised (``model.onnx``; ``inference.pd*``).  Catalog
        names take kind, input shape and dictionary from the catalog; other names
        need them given.  ``source`` is recorded as is (URL, ``pypi:pkg==ver:path``
        or a local path)."""
        check_name(name)
        spec = _resolve_spec(name, kind, input_shape, dictionary)
        if not src_dir.is_dir():
            raise NotFound(f"{src_dir} is not a folder", reason=Reason.MODEL_NOT_FOUND)
        model_format, plan = plan_model_files(p.name for p in src_dir.iterdir() if p.is_file())
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))
        try:
            files = {dst: _copy_hashed(src_dir / src, staging / dst) for src, dst in plan.items()}
            if spec.dictionary is not None:
                files[DICTIONARY] = _copy_hashed(spec.dictionary, staging / DICTIONARY)
            manifest = {
                "name": name,
                "kind": spec.kind,
                "format": model_format,
                "input_shape": list(spec.input_shape),
                "num_classes": rec_num_classes(spec.dictionary) if spec.dictionary else None,
                "files": files,
                "sizes": {name: (staging / name).stat().st_size for name in files},
                "source": source,
                "installed_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            return read_manifest(self._publish(name, staging, manifest))
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _publish(self, name: str, staging: Path, manifest: dict[str, Any]) -> Path:
        """Rename ``staging`` to the next free version folder of ``name``."""
        name_dir = self.root / name
        name_dir.mkdir(exist_ok=True)
        while True:
            version = self._next_version(name_dir)
            _write_json_durably(staging / MANIFEST, {**manifest, "version": version})
            target = name_dir / str(version)
            try:
                os.rename(staging, target)
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                continue  # another install took this version: take the next one
            _fsync_dir(name_dir)
            return target

    @staticmethod
    def _next_version(name_dir: Path) -> int:
        taken = [int(p.name) for p in name_dir.iterdir() if p.name.isdigit()]
        return max(taken, default=0) + 1

    def remove(self, name: str, version: int | None = None) -> builtins.list[int]:
        """Delete one version, or all of ``name``; returns the versions removed.  Each
        folder is renamed away first so no reader sees it half-deleted."""
        check_name(name)
        version_dirs = [
            p for p in self._version_dirs(name) if version is None or p.name == str(version)
        ]
        if not version_dirs:
            what = f"version {version} of model {name}" if version else f"model {name}"
            raise NotFound(f"{what} is not installed", reason=Reason.MODEL_NOT_FOUND)
        for version_dir in version_dirs:
            doomed = Path(tempfile.mkdtemp(prefix=".removing-", dir=self.root))
            os.rename(version_dir, doomed / "v")
            shutil.rmtree(doomed)
            shutil.rmtree(exports_dir(version_dir), ignore_errors=True)
        if not any((self.root / name).iterdir()):
            (self.root / name).rmdir()
        return [int(p.name) for p in version_dirs]


def exports_dir(version_dir: Path) -> Path:
    """Where runtimes keep what they derive from ``<root>/<name>/<version>``."""
    version_dir = version_dir.resolve()
    return version_dir.parent.parent / EXPORTS / version_dir.parent.name / version_dir.name


def _copy_hashed(src: Path, dst: Path) -> str:
    shutil.copyfile(src, dst)
    return sha256_file(dst)


def file_problems(model: InstalledModel) -> builtins.list[str]:
    """What is missing from ``model``'s folder, differs from its manifest or is there
    without being in it; [] when sound.  Extra files count: a runtime may read files
    beside the model (ONNX external weights, Paddle's params), so only the listed ones
    may be there."""
    label = f"{model.name} v{model.version}"
    listed = {*model.files, MANIFEST}
    problems = [f"{label}: {p.name} is not in its manifest"
                for p in sorted(model.path.iterdir()) if p.name not in listed]
    for filename, expected in model.files.items():
        path = model.path / filename
        if not path.is_file():
            problems.append(f"{label}: {filename} is missing")
        elif (size := path.stat().st_size) != model.sizes.get(filename, size):
            problems.append(f"{label}: {filename} has {size} bytes, its manifest says "
                            f"{model.sizes[filename]}")
        elif sha256_file(path) != expected:
            problems.append(f"{label}: {filename} does not match its sha256")
    return problems
