"""Batch formation rules, checked on plain numbers."""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass, field

import pytest

from ocrserve.engine.policy import (
    BatchPolicy,
    Priority,
    batch_size,
    flow_ranks,
    is_expired,
    next_wakeup,
    plan_batch,
    ready_at,
    ready_groups,
    select_items,
)
from ocrserve.errors import InvalidInput


@dataclass(frozen=True)
class Item:
    """A queued item; each is its own request (flow) unless given one."""

    seq: int
    sort_key: float = 0.0
    priority: int = Priority.NORMAL
    enqueued_at: float = 0.0
    deadline: float | None = None
    group_key: Hashable = None
    flow: Hashable = field(default_factory=object, compare=False)


def seqs(items: list[Item]) -> list[int]:
    return [item.seq for item in items]


@pytest.mark.parametrize("policy", [
    BatchPolicy(max_batch_size=0),
    BatchPolicy(max_queue_delay_us=-1),
    BatchPolicy(max_queue_size=0),
    BatchPolicy(preferred_batch_sizes=(4, 2)),
    BatchPolicy(preferred_batch_sizes=(2, 2)),
    BatchPolicy(max_batch_size=8, preferred_batch_sizes=(4, 16)),
    BatchPolicy(preferred_batch_sizes=(0, 4)),
])
def test_validate_rejects_nonsense(policy: BatchPolicy) -> None:
    with pytest.raises(InvalidInput):
        policy.validate()


def test_validate_accepts_defaults_and_preferred_sizes() -> None:
    BatchPolicy().validate()
    BatchPolicy(max_batch_size=8, preferred_batch_sizes=(1, 4, 8), max_queue_delay_us=0).validate()
    assert BatchPolicy(max_queue_delay_us=2500).max_queue_delay_s == pytest.approx(0.0025)


@pytest.mark.parametrize(("available", "preferred", "expected"), [
    (3, (), 3),
    (20, (), 8),
    (7, (2, 4), 4),
    (3, (2, 4), 2),
    (1, (2, 4), 1),       # no preferred size fits: take what there is
    (20, (2, 4), 4),      # preferred sizes win over max_batch_size
    (20, (4, 8), 8),
])
def test_batch_size_prefers_largest_fitting_preferred(
        available: int, preferred: tuple[int, ...], expected: int) -> None:
    policy = BatchPolicy(max_batch_size=8, preferred_batch_sizes=preferred)
    assert batch_size(available, policy) == expected


def test_group_ready_after_delay_or_when_full() -> None:
    policy = BatchPolicy(max_batch_size=3, max_queue_delay_us=1000)
    two = [Item(0, enqueued_at=10.0), Item(1, enqueued_at=10.5)]
    assert ready_at(two, policy, draining=False) == pytest.approx(10.001)  # oldest + delay
    assert ready_at(two, policy, draining=True) == -math.inf
    three = [*two, Item(2, enqueued_at=11.0)]
    assert ready_at(three, policy, draining=False) == -math.inf


def test_group_ready_when_preferred_size_reachable() -> None:
    policy = BatchPolicy(max_batch_size=8, preferred_batch_sizes=(2, 4), max_queue_delay_us=10**6)
    assert ready_at([Item(0)], policy, draining=False) == pytest.approx(1.0)
    assert ready_at([Item(0), Item(1)], policy, draining=False) == -math.inf


def test_ready_groups_put_oldest_high_priority_first() -> None:
    policy = BatchPolicy(max_batch_size=8, max_queue_delay_us=0)
    groups = {
        "old-normal": [Item(0, enqueued_at=1.0)],
        "new-high": [Item(1, enqueued_at=5.0), Item(2, priority=Priority.HIGH, enqueued_at=6.0)],
        "newer-high": [Item(3, priority=Priority.HIGH, enqueued_at=7.0)],
    }
    assert ready_groups(groups, 10.0, policy, draining=False) == [
        "new-high", "newer-high", "old-normal"]


def test_ready_groups_skip_groups_not_ready() -> None:
    policy = BatchPolicy(max_batch_size=8, max_queue_delay_us=1000)
    groups = {"a": [Item(0, priority=Priority.HIGH, enqueued_at=9.9995)],
              None: [Item(1, enqueued_at=5.0)]}
    assert ready_groups(groups, 10.0, policy, draining=False) == [None]
    assert ready_groups(groups, 10.0, policy, draining=True) == ["a", None]


def test_select_cuts_one_request_into_sorted_chunks() -> None:
    # One request's crops, admitted together: like PaddleOCR, sort then chunk.
    ratios = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0, 8.0]
    items = [Item(i, sort_key=r, flow="request") for i, r in enumerate(ratios)]
    first = select_items(items, 3)
    assert [item.sort_key for item in first] == [1.0, 2.0, 3.0]
    rest = [item for item in items if item not in first]
    assert [item.sort_key for item in select_items(rest, 3)] == [5.0, 7.0, 8.0]


def test_select_always_includes_the_oldest_item() -> None:
    # A steady stream of small keys must not starve an old item with a large key.
    old = Item(0, sort_key=100.0, enqueued_at=0.0)
    newer = [Item(i, sort_key=float(i), enqueued_at=1.0) for i in range(1, 10)]
    batch = select_items([old, *newer], 4)
    assert old in batch
    assert [item.sort_key for item in batch] == [7.0, 8.0, 9.0, 100.0]


def test_select_takes_the_tightest_window_around_the_oldest() -> None:
    keys = [1.0, 2.0, 2.1, 2.2, 9.0]
    items = [Item(i, sort_key=k, enqueued_at=0.0 if k == 2.1 else 1.0) for i, k in enumerate(keys)]
    assert [item.sort_key for item in select_items(items, 3)] == [2.0, 2.1, 2.2]


def test_select_takes_high_priority_first_then_fills() -> None:
    items = [Item(0, sort_key=1.0), Item(1, sort_key=2.0), Item(2, sort_key=3.0),
             Item(3, sort_key=9.0, priority=Priority.HIGH, enqueued_at=5.0)]
    assert seqs(select_items(items, 2)) == [0, 3]
    assert seqs(select_items(items, 1)) == [3]
    assert seqs(select_items(items, 10)) == [0, 1, 2, 3]


def test_plan_batch_combines_choice_size_and_selection() -> None:
    policy = BatchPolicy(max_batch_size=4, max_queue_delay_us=0, preferred_batch_sizes=(2,))
    groups = {"w320": [Item(i, sort_key=float(-i)) for i in range(3)]}
    planned = plan_batch(groups, 0.0, policy, draining=False)
    assert planned is not None
    key, batch = planned
    assert key == "w320"
    assert seqs(batch) == [2, 1]
    assert plan_batch({}, 0.0, policy, draining=False) is None
    # None is an ordinary group key (the batcher's default).
    assert plan_batch({None: [Item(0)]}, 0.0, policy, draining=False) == (None, [Item(0)])


def test_next_wakeup_covers_deadlines_and_delays() -> None:
    policy = BatchPolicy(max_batch_size=8, max_queue_delay_us=2000)
    groups = {"a": [Item(0, enqueued_at=1.0, deadline=5.0)], "b": [Item(1, enqueued_at=2.0)]}
    assert next_wakeup(groups, policy, draining=False, batch_running=False) == pytest.approx(1.002)
    # While a batch runs no other can start: only deadlines matter.
    assert next_wakeup(groups, policy, draining=False, batch_running=True) == 5.0
    assert next_wakeup({"b": groups["b"]}, policy, draining=False, batch_running=True) is None
    assert next_wakeup({}, policy, draining=False, batch_running=False) is None


def test_is_expired() -> None:
    assert is_expired(Item(0, deadline=1.0), 1.0)
    assert not is_expired(Item(0, deadline=1.0), 0.5)
    assert not is_expired(Item(0), 1e9)
    # An item that would only finish after its deadline is expired already.
    assert is_expired(Item(0, deadline=1.0), 0.5, lead=0.6)
    assert not is_expired(Item(0, deadline=1.0), 0.5, lead=0.4)


def test_next_wakeup_is_an_items_deadline_less_its_groups_lead() -> None:
    policy = BatchPolicy(max_batch_size=8, max_queue_delay_us=2000)
    groups = {"a": [Item(0, enqueued_at=1.0, deadline=5.0)]}
    assert next_wakeup(groups, policy, draining=False, batch_running=True,
                       lead={"a": 0.5}) == pytest.approx(4.5)


def test_ranks_count_each_flows_items_oldest_first() -> None:
    a = [Item(i, flow="a", enqueued_at=1.0, sort_key=float(10 - i)) for i in range(3)]
    b = [Item(3, flow="b", enqueued_at=2.0)]
    ranks = flow_ranks([*a, *b])
    assert [ranks[id(item)] for item in a] == [2, 1, 0]  # same age: by sort key
    assert ranks[id(b[0])] == 0


def test_a_small_request_is_served_alongside_a_large_one() -> None:
    # 60 crops of one request queued first, then 6 of another: the next batches
    # alternate between them instead of finishing the large request first.
    big = [Item(i, flow="big", enqueued_at=1.0) for i in range(60)]
    small = [Item(100 + i, flow="small", enqueued_at=2.0) for i in range(6)]
    policy = BatchPolicy(max_batch_size=6, max_queue_delay_us=0)
    queue = {None: [*big, *small]}
    batches = []
    while any(item.flow == "small" for item in queue[None]):
        planned = plan_batch(queue, 10.0, policy, draining=False)
        assert planned is not None
        _, batch = planned
        batches.append(batch)
        queue = {None: [item for item in queue[None] if item not in batch]}
    assert len(batches) == 2  # done after two batches, not eleven
    assert all(sum(item.flow == "small" for item in batch) == 3 for batch in batches)


def test_high_priority_still_comes_before_every_rank() -> None:
    big = [Item(i, flow="big", enqueued_at=1.0) for i in range(10)]
    urgent = [Item(20 + i, flow="urgent", priority=Priority.HIGH, enqueued_at=2.0)
              for i in range(4)]
    assert {item.flow for item in select_items([*big, *urgent], 4)} == {"urgent"}
