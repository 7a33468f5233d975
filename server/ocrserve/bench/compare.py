"""Fidelity scoring: did we reproduce the reference pipeline's lines, and only those?

A reference line counts as *found* when one of our lines, not already matched, covers it
with IoU ≥ the threshold and carries identical text.  Recall is found over the reference's
lines; precision is found over ours, so a line PaddleOCR did not return counts against us
as much as one we lost.  Detection-only results compare the same way: their lines have
empty text.  Pure logic: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ocrserve.ops.geometry import box_iou

__all__ = ["MAX_MEAN_SCORE_DIFF", "MIN_PRECISION", "MIN_RECALL", "Line", "MatchReport",
           "Unmatched", "aggregate", "lines_from_records", "match_lines"]

#: The fidelity bar the end-to-end tests hold our pipeline to against PaddleOCR's own: share
#: of its lines we reproduce, share of ours it also returned, mean |confidence difference|
MIN_RECALL = 0.98
MIN_PRECISION = 0.98
MAX_MEAN_SCORE_DIFF = 0.01
#: How the error messages name the other side's lines
OURS = "line of ours"
REFERENCE = "reference line"
#: Unmatched lines a report prints per kind; the rest are counted
SHOWN = 20


@dataclass(frozen=True)
class Line:
    """One recognised text line: a 4×2 quad in pixels, its text and its confidence."""

    box: np.ndarray
    text: str
    score: float


@dataclass(frozen=True)
class Unmatched:
    """A line of one side that no line of the other side reproduced, with the other side's
    most-overlapping line, so an error message shows what came closest.

    ``other`` names the other side (:data:`OURS` for a reference line we missed,
    :data:`REFERENCE` for an extra line of ours).
    """

    line: Line
    nearest: Line | None
    iou: float
    other: str

    def __str__(self) -> str:
        where = np.round(self.line.box).astype(int).tolist()
        if self.nearest is None:
            return f"{self.line.text!r} at {where}: no {self.other} overlaps it"
        return (f"{self.line.text!r} at {where}: nearest {self.other} {self.nearest.text!r} "
                f"IoU {self.iou:.3f}")


@dataclass(frozen=True)
class MatchReport:
    """Counts of one comparison (or of many, via :func:`aggregate`).

    ``total`` and ``ours`` count the reference's lines and ours; ``found`` the matched pairs.
    ``misses`` are the reference lines left unmatched, ``extras`` our lines left unmatched.
    ``score_diffs`` holds |our score − reference score| for every found pair.
    """

    found: int
    total: int
    ours: int
    score_diffs: tuple[float, ...]
    misses: tuple[Unmatched, ...]
    extras: tuple[Unmatched, ...]

    @property
    def recall(self) -> float:
        """Found reference lines over all reference lines; 1.0 when there were none."""
        return self.found / self.total if self.total else 1.0

    @property
    def precision(self) -> float:
        """Our lines that matched a reference line over all our lines; 1.0 when we had none."""
        return self.found / self.ours if self.ours else 1.0

    @property
    def mean_abs_score_diff(self) -> float:
        return float(np.mean(self.score_diffs)) if self.score_diffs else 0.0

    @property
    def max_abs_score_diff(self) -> float:
        return max(self.score_diffs, default=0.0)

    def __str__(self) -> str:
        head = (f"found {self.found}/{self.total} reference lines (recall {self.recall:.3f}), "
                f"{self.found}/{self.ours} of ours (precision {self.precision:.3f}), "
                f"|score diff| mean {self.mean_abs_score_diff:.2e} "
                f"max {self.max_abs_score_diff:.2e}")
        return "\n".join([head, *_listing("missed", self.misses),
                          *_listing("extra", self.extras)])


def _listing(label: str, lines: tuple[Unmatched, ...]) -> list[str]:
    shown = [f"  {label} {line}" for line in lines[:SHOWN]]
    if len(lines) > SHOWN:
        shown.append(f"  … and {len(lines) - SHOWN} more {label}")
    return shown


def match_lines(ours: Sequence[Line], ref: Sequence[Line],
                iou_threshold: float = 0.9) -> MatchReport:
    """Pair each reference line with at most one of ours (same text, IoU ≥ threshold).

    Pairs are taken greedily by descending IoU.  With a threshold above 0.5 and reference
    lines that do not overlap each other, a line of ours can qualify for at most one
    reference line, so greedy matching is also the maximum matching.
    """
    iou = np.array([[box_iou(r.box, o.box) for o in ours] for r in ref]).reshape(len(ref),
                                                                                len(ours))
    candidates = sorted(
        ((iou[i, j], i, j) for i in range(len(ref)) for j in range(len(ours))
         if iou[i, j] >= iou_threshold and ref[i].text == ours[j].text),
        key=lambda c: (-c[0], c[1], c[2]),
    )
    pairs: dict[int, int] = {}
    for _, i, j in candidates:
        if i not in pairs and j not in pairs.values():
            pairs[i] = j
    matched = set(pairs.values())
    misses = tuple(_unmatched(r, ours, iou[i], OURS) for i, r in enumerate(ref)
                   if i not in pairs)
    extras = tuple(_unmatched(o, ref, iou[:, j], REFERENCE) for j, o in enumerate(ours)
                   if j not in matched)
    diffs = tuple(abs(ours[j].score - ref[i].score) for i, j in sorted(pairs.items()))
    return MatchReport(len(pairs), len(ref), len(ours), diffs, misses, extras)


def _unmatched(line: Line, others: Sequence[Line], ious: np.ndarray, other: str) -> Unmatched:
    """``line`` unmatched, naming the most-overlapping of ``others`` if any overlaps it."""
    best = int(np.argmax(ious)) if len(others) else 0
    if not len(others) or ious[best] <= 0.0:
        return Unmatched(line, None, 0.0, other)
    return Unmatched(line, others[best], float(ious[best]), other)


def aggregate(reports: Iterable[MatchReport]) -> MatchReport:
    """One report over many images: counts add up, diffs, misses and extras concatenate."""
    reports = list(reports)
    return MatchReport(
        found=sum(r.found for r in reports),
        total=sum(r.total for r in reports),
        ours=sum(r.ours for r in reports),
        score_diffs=tuple(d for r in reports for d in r.score_diffs),
        misses=tuple(m for r in reports for m in r.misses),
        extras=tuple(e for r in reports for e in r.extras),
    )


def lines_from_records(records: Iterable[Mapping[str, Any]]) -> list[Line]:
    """Lines from JSON records such as ``reference_runner`` writes (``box``, ``text``, ``score``).

    Detection-only records have no text or score: they become ``""`` and ``0.0``.
    """
    return [Line(np.asarray(r["box"], dtype=np.float64).reshape(4, 2), str(r.get("text", "")),
                 float(r.get("score", 0.0))) for r in records]
