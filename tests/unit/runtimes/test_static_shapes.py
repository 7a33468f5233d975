"""The choice of input shapes that get a model compiled for them alone."""

from __future__ import annotations

import pytest

from ocrserve.runtimes.static_shapes import Admission, ShapeAdmission


def see_all(policy: ShapeAdmission[str], shapes: str) -> list[Admission[str]]:
    return [policy.see(shape) for shape in shapes]


def test_a_one_off_shape_is_never_compiled() -> None:
    policy: ShapeAdmission[str] = ShapeAdmission(capacity=4)
    assert all(not a.keep for a in see_all(policy, "abcdefgh"))
    assert policy.kept == []


def test_a_shape_is_kept_from_its_second_sight_while_there_is_room() -> None:
    policy: ShapeAdmission[str] = ShapeAdmission(capacity=2)
    assert [a.keep for a in see_all(policy, "aab")] == [False, True, False]
    assert [a.keep for a in see_all(policy, "ba")] == [True, True]
    assert policy.kept == ["a", "b"]


def test_cycling_through_more_shapes_than_room_compiles_nothing_more() -> None:
    """16 page sizes in turn (the benchmark's set) with room for 4: the first four
    that came back stay, and the others never displace them (no thrashing)."""
    policy: ShapeAdmission[str] = ShapeAdmission(capacity=4)
    sizes = "abcdefghijklmnop"
    see_all(policy, sizes)
    compiled = [a for a in see_all(policy, sizes * 20) if a.keep and a.drop is not None]
    assert compiled == []
    assert policy.kept == ["a", "b", "c", "d"]


def test_two_shapes_alternating_with_room_for_one_do_not_flip_flop() -> None:
    policy: ShapeAdmission[str] = ShapeAdmission(capacity=1, window=8)
    admissions = see_all(policy, "ab" * 50)
    assert [a.drop for a in admissions if a.drop is not None] == []
    assert policy.kept == ["a"]


def test_a_shape_that_takes_over_the_traffic_displaces_the_old_one() -> None:
    policy: ShapeAdmission[str] = ShapeAdmission(capacity=1, window=8)
    see_all(policy, "aaaaaaaa")
    admissions = see_all(policy, "bbbbbbbb")
    dropped = [(i, a.drop) for i, a in enumerate(admissions) if a.drop is not None]
    # b needs more than twice the a's left among the last 8 inputs: at its sixth, 6 > 2 * 2
    assert dropped == [(5, "a")]
    assert policy.kept == ["b"]
    assert all(a.keep for a in admissions[5:])


def test_the_least_frequent_kept_shape_makes_room_and_ties_go_to_the_oldest() -> None:
    policy: ShapeAdmission[str] = ShapeAdmission(capacity=2, window=16)
    see_all(policy, "aaaa" + "bb")  # a: 4, b: 2
    admissions = see_all(policy, "ccccc")
    assert [a.drop for a in admissions if a.drop is not None] == ["b"]
    assert sorted(policy.kept) == ["a", "c"]


def test_no_capacity_keeps_nothing_and_forget_starts_over() -> None:
    assert not ShapeAdmission[str](capacity=0).see("a").keep
    policy: ShapeAdmission[str] = ShapeAdmission(capacity=1)
    see_all(policy, "aa")
    policy.forget()
    assert policy.kept == [] and not policy.see("a").keep
    with pytest.raises(ValueError):
        ShapeAdmission[str](capacity=-1)
