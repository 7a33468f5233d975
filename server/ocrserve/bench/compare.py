"""Fidelity scoring: how many of the reference pipeline's lines did we reproduce?

A reference line counts as *found* when one of our lines, not already matched, covers it
with IoU ≥ the threshold and carries identical text.  Detection-only results compare the
same way: their lines have empty text.  Pure logic: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ocrserve.ops.geometry import box_iou

__all__ = ["Line", "MatchReport", "Miss", "aggregate", "lines_from_records", "match_lines"]


@dataclass(frozen=True)
class Line:
    """One recognised text line: a 4×2 quad in pixels, its text and its confidence."""

    box: np.ndarray
    text: str
    score: float


@dataclass(frozen=True)
class Miss:
    """A reference line we did not reproduce, with our closest line for the error message."""

    ref: Line
    nearest: Line | None
    iou: float

    def __str__(self) -> str:
        where = np.round(self.ref.box).astype(int).tolist()
        if self.nearest is None:
            return f"{self.ref.text!r} at {where}: no line of ours overlaps it"
        return (f"{self.ref.text!r} at {where}: nearest ours {self.nearest.text!r} "
                f"IoU {self.iou:.3f}")


@dataclass(frozen=True)
class MatchReport:
    """Counts of one comparison (or of many, via :func:`aggregate`).

    ``score_diffs`` holds |our score − reference score| for every found pair.
    """

    found: int
    total: int
    ours: int
    score_diffs: tuple[float, ...]
    misses: tuple[Miss, ...]

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
                f"precision {self.precision:.3f}, |score diff| mean "
                f"{self.mean_abs_score_diff:.2e} max {self.max_abs_score_diff:.2e}")
        shown = [f"  missed {miss}" for miss in self.misses[:20]]
        if len(self.misses) > len(shown):
            shown.append(f"  … and {len(self.misses) - len(shown)} more")
        return "\n".join([head, *shown])


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
    misses = tuple(_miss(r, ours, iou[i]) for i, r in enumerate(ref) if i not in pairs)
    diffs = tuple(abs(ours[j].score - ref[i].score) for i, j in sorted(pairs.items()))
    return MatchReport(len(pairs), len(ref), len(ours), diffs, misses)


def _miss(ref: Line, ours: Sequence[Line], ious: np.ndarray) -> Miss:
    """The miss, naming our most-overlapping line if any of ours overlaps it at all."""
    best = int(np.argmax(ious)) if len(ours) else 0
    if not len(ours) or ious[best] <= 0.0:
        return Miss(ref, None, 0.0)
    return Miss(ref, ours[best], float(ious[best]))


def aggregate(reports: Iterable[MatchReport]) -> MatchReport:
    """One report over many images: counts add up, diffs and misses concatenate."""
    reports = list(reports)
    return MatchReport(
        found=sum(r.found for r in reports),
        total=sum(r.total for r in reports),
        ours=sum(r.ours for r in reports),
        score_diffs=tuple(d for r in reports for d in r.score_diffs),
        misses=tuple(m for r in reports for m in r.misses),
    )


def lines_from_records(records: Iterable[Mapping[str, Any]]) -> list[Line]:
    """Lines from JSON records such as ``reference_runner`` writes (``box``, ``text``, ``score``).

    Detection-only records have no text or score: they become ``""`` and ``0.0``.
    """
    return [Line(np.asarray(r["box"], dtype=np.float64).reshape(4, 2), str(r.get("text", "")),
                 float(r.get("score", 0.0))) for r in records]
