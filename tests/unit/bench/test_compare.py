"""Fidelity scoring (recall and precision) on hand-made lines."""

from __future__ import annotations

import numpy as np
import pytest

from ocrserve.bench.compare import (
    OURS,
    REFERENCE,
    Line,
    MatchReport,
    aggregate,
    lines_from_records,
    match_lines,
)


def quad(x: float, y: float, w: float = 100.0, h: float = 20.0) -> np.ndarray:
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float64)


REF = [Line(quad(10, 10), "你好 world", 0.98), Line(quad(10, 50), "¥12.80", 0.91)]


def test_identical_lines_are_all_found() -> None:
    report = match_lines(REF, REF)
    assert (report.found, report.total, report.recall, report.precision) == (2, 2, 1.0, 1.0)
    assert report.mean_abs_score_diff == 0.0
    assert report.misses == () and report.extras == ()


def test_order_of_our_lines_does_not_matter() -> None:
    assert match_lines(REF[::-1], REF).found == 2


def test_shifted_box_below_threshold_is_a_miss() -> None:
    # 15 px shift of a 100 px wide box: IoU = 85 / 115 ≈ 0.74
    ours = [Line(quad(25, 10), "你好 world", 0.98), REF[1]]
    report = match_lines(ours, REF, iou_threshold=0.9)
    assert report.found == 1
    assert (report.recall, report.precision) == (0.5, 0.5)
    (miss,) = report.misses
    assert miss.line is REF[0] and miss.nearest is ours[0] and miss.other == OURS
    assert miss.iou == pytest.approx(85 / 115, abs=1e-3)
    (extra,) = report.extras  # the shifted line of ours matches no reference line either
    assert extra.line is ours[0] and extra.nearest is REF[0] and extra.other == REFERENCE
    assert extra.iou == pytest.approx(miss.iou)
    assert "missed '你好 world'" in str(report) and "extra '你好 world'" in str(report)


def test_small_shift_within_threshold_is_found() -> None:
    ours = [Line(quad(12, 10), "你好 world", 0.98), REF[1]]  # IoU = 98 / 102 ≈ 0.96
    assert match_lines(ours, REF).recall == 1.0


def test_different_text_is_a_miss_even_on_the_same_box() -> None:
    ours = [REF[0], Line(quad(10, 50), "¥12.86", 0.91)]
    report = match_lines(ours, REF)
    assert report.found == 1
    (miss,) = report.misses
    assert miss.nearest is not None and miss.nearest.text == "¥12.86"
    assert miss.iou == pytest.approx(1.0)
    (extra,) = report.extras
    assert extra.line.text == "¥12.86" and extra.nearest is REF[1]


def test_a_miss_names_no_line_when_none_of_ours_overlaps() -> None:
    report = match_lines([Line(quad(500, 500), "far away", 0.9)], REF[:1])
    (miss,) = report.misses
    assert miss.nearest is None and miss.iou == 0.0
    assert "no line of ours overlaps" in str(miss)
    (extra,) = report.extras
    assert extra.nearest is None and "'far away'" in str(extra)
    assert "no reference line overlaps" in str(extra)


def test_a_line_the_reference_did_not_return_costs_precision_not_recall() -> None:
    ghost = Line(quad(10, 90), "ghost", 0.7)
    report = match_lines([*REF, ghost], REF)
    assert (report.found, report.total, report.ours) == (2, 2, 3)
    assert report.recall == 1.0 and report.precision == pytest.approx(2 / 3)
    assert report.misses == ()
    (extra,) = report.extras
    assert extra.line is ghost and extra.nearest is None
    assert "precision 0.667" in str(report) and "extra 'ghost'" in str(report)


def test_a_duplicate_of_a_matched_line_is_an_extra() -> None:
    twice = [REF[0], Line(REF[0].box.copy(), REF[0].text, 0.5)]
    report = match_lines(twice, REF[:1])
    assert (report.found, report.ours, report.recall, report.precision) == (1, 2, 1.0, 0.5)
    (extra,) = report.extras
    assert extra.line is twice[1] and extra.nearest is REF[0] and extra.iou == pytest.approx(1)


def test_long_listings_are_cut() -> None:
    ghosts = [Line(quad(10, 1000 + 30 * k), f"ghost {k}", 0.7) for k in range(25)]
    text = str(match_lines(ghosts, []))
    assert text.count("extra 'ghost") == 20 and "… and 5 more extra" in text


def test_one_of_our_lines_matches_only_one_reference_line() -> None:
    twice = [REF[0], Line(REF[0].box.copy(), REF[0].text, 0.5)]
    report = match_lines([REF[0]], twice)
    assert (report.found, report.total) == (1, 2)


def test_score_differences_over_matched_pairs() -> None:
    ours = [Line(REF[0].box, REF[0].text, 0.95), Line(REF[1].box, REF[1].text, 0.92)]
    report = match_lines(ours, REF)
    assert report.score_diffs == pytest.approx((0.03, 0.01))
    assert report.mean_abs_score_diff == pytest.approx(0.02)
    assert report.max_abs_score_diff == pytest.approx(0.03)


def test_empty_inputs() -> None:
    nothing = match_lines([], [])
    assert (nothing.recall, nothing.precision, nothing.mean_abs_score_diff) == (1.0, 1.0, 0.0)
    report = match_lines([], REF)
    assert (report.recall, report.precision) == (0.0, 1.0)
    assert all(m.nearest is None for m in report.misses)
    report = match_lines(REF, [])
    assert (report.recall, report.precision) == (1.0, 0.0)
    assert [e.line for e in report.extras] == REF


def test_aggregate_sums_counts_and_keeps_misses_and_extras() -> None:
    ghost = Line(quad(10, 90), "ghost", 0.7)
    a = match_lines([*REF, ghost], REF)
    b = match_lines([REF[0]], REF)
    total = aggregate([a, b])
    assert isinstance(total, MatchReport)
    assert (total.found, total.total, total.ours) == (3, 4, 4)
    assert (total.recall, total.precision) == (0.75, 0.75)
    assert len(total.misses) == 1 and total.misses[0].line is REF[1]
    assert len(total.extras) == 1 and total.extras[0].line is ghost
    assert len(total.score_diffs) == 3


def test_lines_from_reference_records() -> None:
    records = [{"box": quad(1, 2).tolist(), "text": "abc", "score": 0.5}, {"box": quad(0, 0)}]
    full, det_only = lines_from_records(records)
    assert full.text == "abc" and full.score == 0.5 and full.box.shape == (4, 2)
    assert (det_only.text, det_only.score) == ("", 0.0)
    assert match_lines([Line(quad(0, 0), "", 0.0)], [det_only]).found == 1
