"""Paddle-format models as ONNX, for the backend that reads only ONNX (torch).

paddle2onnx 1.3.1 at opset 14 converts every Paddle model we have (v2.0 cls,
v4 det and rec) under Paddle 3.3.1, and the converted graphs run on our torch
converter within 5e-6 of Paddle Inference on the original files; paddle2onnx
2.1 fails on the v4 detector (docs/facts.md#runtime-quirks).

Once per model version: the export is kept in the repository under
``.exports/<name>/<version>/`` (models/repository.py: a dot folder is no model
name, so listing and verification skip it, and removing the version removes
it) with a stamp naming the Paddle files' sha256, the exporter, and the export's
own sha256 and size.  A stamp that no longer matches (the version folder was
replaced) means export again; so does an export that no longer matches its stamp
(a damaged or edited ``model.onnx``: the repository's manifest does not cover
``.exports/``, so this check is the only one between that file and the runtime).
A repository that cannot be written (a read-only volume) gets the export in a
temporary folder of this process.

The export runs in a child process (``python -m ocrserve.runtimes.paddle_export``):
paddle2onnx imports Paddle, whose memory and signal handlers an engine serving
torch should not carry, and whose C++ aborts on a malformed program would take
the engine down with it.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from ocrserve.errors import ModelError
from ocrserve.models.repository import exports_dir, sha256_file

log = logging.getLogger(__name__)

PROGRAM_FILE = "inference.pdmodel"
PARAMS_FILE = "inference.pdiparams"
EXPORT_FILE = "model.onnx"
STAMP_FILE = "export.json"
OPSET = 14
#: Seconds an export may take; the largest model here takes under 2 s.
EXPORT_TIMEOUT_S = 300.0

_scratch: Path | None = None


def exported_onnx(model_dir: Path) -> Path:
    """The ONNX file of the Paddle model in ``model_dir``, exported now unless a
    matching export is kept: one whose stamp names these sources and this exporter,
    and whose bytes still hash to what the stamp recorded.  A kept export that fails
    that check is exported again, never loaded; ModelError if that export fails."""
    sources = [model_dir / PROGRAM_FILE, model_dir / PARAMS_FILE]
    for path in sources:
        if not path.is_file():
            raise ModelError(f"model file missing: {path}")
    try:
        exporter = f"paddle2onnx {metadata.version('paddle2onnx')} opset {OPSET}"
    except metadata.PackageNotFoundError as exc:
        raise ModelError(f"serving the Paddle-format model {model_dir} on this backend needs "
                         "paddle2onnx (pip install 'ocrserve[paddle]'), or install the "
                         "model as ONNX") from exc
    stamp: dict[str, object] = {"exporter": exporter,
                                "sources": {p.name: sha256_file(p) for p in sources}}
    for folder in (exports_dir(model_dir), _scratch_folder(model_dir)):
        try:
            return _export_into(folder, model_dir, stamp)
        except OSError as exc:  # not writable: try the next place
            log.warning("cannot keep the ONNX export of %s in %s (%s)", model_dir, folder, exc)
    raise ModelError(f"nowhere to write the ONNX export of {model_dir}")


def _scratch_folder(model_dir: Path) -> Path:
    global _scratch
    if _scratch is None:
        _scratch = Path(tempfile.mkdtemp(prefix="ocrserve-exports-"))
        atexit.register(shutil.rmtree, _scratch, True)
    return _scratch / hashlib.sha256(str(model_dir.resolve()).encode()).hexdigest()[:16]


def _export_into(folder: Path, model_dir: Path, stamp: dict[str, object]) -> Path:
    target, stamp_path = folder / EXPORT_FILE, folder / STAMP_FILE
    kept = _read_stamp(stamp_path)
    problem = None
    if target.is_file() and isinstance(kept, dict) and _sources_match(kept, stamp):
        problem = _export_problem(target, kept)
        if problem is None:
            return target
        log.warning("the kept ONNX export %s %s; exporting %s again", target, problem, model_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".partial-") as tmp:
        partial = Path(tmp) / EXPORT_FILE
        try:
            _run_exporter(model_dir, partial)
        except ModelError as exc:
            if problem is None:
                raise
            # Never fall back to the damaged file: say both what is wrong with it and
            # why it could not be replaced.
            raise ModelError(f"the kept ONNX export {target} {problem}, and exporting "
                             f"again failed: {exc}") from exc
        made = {**stamp, "export": _fingerprint(partial)}
        # The file first, the stamp last: a stamp always names a complete export.
        os.replace(partial, target)
        (Path(tmp) / STAMP_FILE).write_text(json.dumps(made, indent=2))
        os.replace(Path(tmp) / STAMP_FILE, stamp_path)
    log.info("exported %s to ONNX at %s", model_dir, target)
    return target


def _sources_match(kept: dict[str, object], stamp: dict[str, object]) -> bool:
    """Whether the kept stamp was made from these Paddle files by this exporter."""
    return all(kept.get(key) == value for key, value in stamp.items())


def _fingerprint(path: Path) -> dict[str, object]:
    return {"sha256": sha256_file(path), "size": path.stat().st_size}


def _export_problem(target: Path, kept: dict[str, object]) -> str | None:
    """What is wrong with the kept export against its stamp; None when it matches.
    The size first: it costs nothing and catches a truncated file.  A stamp without
    the export's fingerprint (written before it was recorded) cannot vouch for it."""
    recorded = kept.get("export")
    if not isinstance(recorded, dict):
        return "has no recorded sha256"
    size = target.stat().st_size
    if size != recorded.get("size"):
        return f"has {size} bytes, its stamp says {recorded.get('size')}"
    if sha256_file(target) != recorded.get("sha256"):
        return "does not match its sha256"
    return None


def _run_exporter(model_dir: Path, destination: Path) -> None:
    command = [sys.executable, "-m", __name__, str(model_dir), str(destination)]
    try:
        done = subprocess.run(command, capture_output=True, text=True,
                              timeout=EXPORT_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ModelError(f"exporting {model_dir} to ONNX took over {EXPORT_TIMEOUT_S:g}s") \
            from exc
    if done.returncode != 0 or not destination.is_file():
        raise ModelError(f"could not export the Paddle model {model_dir} to ONNX "
                         f"(exit {done.returncode}): {_reason(done.stdout + done.stderr)}")


def _reason(output: str) -> str:
    """What paddle2onnx (on stdout) or Python (a traceback's last line) said went wrong."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    said = [line for line in lines if "Failed" in line or "Error" in line]
    return said[0] if said else lines[-1] if lines else "no output"


def _read_stamp(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def main(argv: list[str]) -> int:
    """The child: ``MODEL_DIR DESTINATION``."""
    import onnx
    import paddle2onnx  # the parent checked it is installed

    model_dir, destination = map(Path, argv)
    exported = paddle2onnx.export(str(model_dir / PROGRAM_FILE), str(model_dir / PARAMS_FILE),
                                  None, opset_version=OPSET, enable_onnx_checker=True,
                                  verbose=False)
    if not exported:  # it reports a program it cannot read on stdout, and returns nothing
        print("Failed: paddle2onnx produced no model", file=sys.stderr)
        return 2
    onnx.checker.check_model(onnx.load_model_from_string(exported))
    destination.write_bytes(exported)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
