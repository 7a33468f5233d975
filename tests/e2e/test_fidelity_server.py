"""Fidelity through the batched multi-process server at concurrency 8.

The same thresholds (recall, precision, score difference) as the in-process
fidelity tests: the batcher merges crops of many requests, and the results
must still be PaddleOCR's.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ocrclient import OcrClient, OcrResult
from ocrserve.bench.compare import (
    MAX_MEAN_SCORE_DIFF,
    MIN_PRECISION,
    MIN_RECALL,
    Line,
    aggregate,
    lines_from_records,
    match_lines,
)
from ocrserve.bench.spawn import ServerProcess

pytestmark = [pytest.mark.reference, pytest.mark.slow]

CONCURRENCY = 8


def test_batched_server_matches_paddleocr_at_concurrency_8(
        model_repository: Path, image_set: list[Path],
        references: dict[str, dict[str, Any]]) -> None:
    reference = references["v2-onnx"]["ocr"]["images"]  # the server's default models
    env = {"OCR_MODEL_REPOSITORY": str(model_repository)}
    with (ServerProcess(["--workers", "2"], env=env) as server,
          OcrClient(server.target, timeout=120) as client,
          ThreadPoolExecutor(CONCURRENCY) as pool):
        # every image twice, so each batch mixes crops of several requests
        results: list[OcrResult] = list(pool.map(client.ocr_one, image_set * 2))
        rec = next(s for s in client.list_slots() if s.slot == "rec")
    assert rec.batches > 0 and rec.batched_items / rec.batches > 1.0  # batching happened
    reports = [
        match_lines([Line(np.asarray(x.box, np.float32), x.text, x.score) for x in ours.lines],
                    lines_from_records(ref["lines"]))
        for ours, ref in zip(results, reference * 2, strict=True)
    ]
    report = aggregate(reports)
    assert report.recall >= MIN_RECALL, f"recall {report.recall:.3f}\n{report}"
    assert report.precision >= MIN_PRECISION, f"precision {report.precision:.3f}\n{report}"
    assert report.mean_abs_score_diff <= MAX_MEAN_SCORE_DIFF, str(report)
