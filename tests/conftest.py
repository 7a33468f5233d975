"""Shared fixtures: where the real models and reference pipeline live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def model_repository() -> Path:
    """The repository `make models` fills from registry packages."""
    root = Path(os.environ.get("OCR_MODEL_REPOSITORY", REPO / "models"))
    if not any(root.glob("*/*/manifest.json")):
        pytest.fail(f"no installed models in {root}: run `make models` first")
    return root


@pytest.fixture(scope="session")
def reference_python() -> Path:
    """Python of the reference venv with PaddleOCR's own pipeline (`make ref`)."""
    path = Path(os.environ.get("OCR_REFERENCE_PYTHON", REPO / ".venv-ref" / "bin" / "python"))
    if not path.exists():
        pytest.fail(f"reference venv missing at {path}: run `make ref` first")
    return path


@pytest.fixture(scope="session")
def image_set() -> list[Path]:
    """The generated evaluation images (deterministic), cached under .cache/images."""
    from ocrserve.bench.images import generate_image_set

    return generate_image_set(REPO / ".cache" / "images")


@pytest.fixture(scope="session")
def small_image_set() -> list[Path]:
    from ocrserve.bench.images import generate_image_set

    return generate_image_set(REPO / ".cache" / "images-small", "small")


@pytest.fixture(scope="session")
def sign(image_set: list[Path]) -> Path:
    """An 800x600 photo-like sign with a few lines: quick to OCR, real text."""
    return next(p for p in image_set if p.name == "signs_800x600.png")
