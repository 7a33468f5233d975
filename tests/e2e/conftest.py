"""Fixtures shared by the fidelity tests: PaddleOCR's own results on the generated images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ocrserve.bench.fidelity import MODEL_SETS, run_reference
from ocrserve.models.repository import ModelRepository


@pytest.fixture(scope="session")
def references(model_repository: Path, reference_python: Path, image_set: list[Path]
               ) -> dict[str, dict[str, Any]]:
    """PaddleOCR's full-pipeline and det-only output for each model set.

    Only the lines are compared, so the runner makes one pass (``warmup=0``): its
    untimed warm-up pass is there for timings, and skipping it saves CI about a minute.
    """
    repo = ModelRepository(model_repository)
    out = {}
    for name, model_set in MODEL_SETS.items():
        models = model_set.models(repo)
        out[name] = {mode: run_reference(reference_python, models, image_set, mode=mode,
                                         warmup=0)
                     for mode in ("ocr", "det")}
    return out
