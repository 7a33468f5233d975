"""Batch formation policy: which queued items run together, and when.

Pure functions of the queued items and a time value (no event loop, no I/O), so every
decision the batcher makes can be tested with plain numbers.  The knobs are named after
Triton's dynamic batcher (``max_batch_size``, ``max_queue_delay_microseconds``,
``preferred_batch_size``, ``max_queue_size``, priority levels).

The rules:

- Only items with equal ``group_key`` (a shape bucket) share a batch.
- A group is *ready* when it holds ``max_batch_size`` items, when it can form a preferred
  size, when its oldest item has waited ``max_queue_delay_us``, or when the batcher drains.
- Every item belongs to a ``flow`` (one request).  Its *rank* is its flow's
  ``served`` count plus its place among the flow's queued items (oldest first, then
  by ``sort_key``).  The batcher starts a flow's count where the flow served furthest
  stands when it arrives (start-time fair queueing), so lowest rank first serves the
  flows in turn: a large request's hundredth crop waits behind a small request's
  first, so one caller's big request cannot hold up another's small one for its
  whole length, and a stream of newcomers cannot hold up a request half done.
- Among ready groups, the one holding the most urgent item runs first: lowest ``priority``
  value, then lowest rank, then earliest ``enqueued_at``, then admission order.
- A batch takes the largest preferred size that fits the group and ``max_batch_size``,
  otherwise as many items as fit.
- Inside a group, items are taken level by level, a level being one (priority, rank):
  higher priority first, and within a priority the first items of every flow before the
  second ones.  Where a level cannot be taken whole, the batch takes a run of its items
  adjacent in ``sort_key`` order (similar crops pad little) that always contains the
  level's oldest item, so no item is passed over forever.
- An item whose deadline falls before its batch could end (``lead``: the expected run
  time of its group) is expired: it would only finish too late.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Protocol, TypeVar

from ocrserve.errors import InvalidInput


class Priority(IntEnum):
    """Priority levels, Triton-style: the lower value is served first."""

    HIGH = 0
    NORMAL = 1


@dataclass(frozen=True)
class BatchPolicy:
    """How one batcher forms batches.  Call :meth:`validate` before use."""

    max_batch_size: int = 8
    max_queue_delay_us: int = 2000
    preferred_batch_sizes: tuple[int, ...] = ()
    max_queue_size: int = 256

    def validate(self) -> None:
        """Raise InvalidInput naming the first field that makes no sense."""
        if self.max_batch_size < 1:
            raise InvalidInput(f"max_batch_size must be >= 1, got {self.max_batch_size}")
        if self.max_queue_delay_us < 0:
            raise InvalidInput(
                f"max_queue_delay_us must be >= 0, got {self.max_queue_delay_us}")
        if self.max_queue_size < 1:
            raise InvalidInput(f"max_queue_size must be >= 1, got {self.max_queue_size}")
        sizes = self.preferred_batch_sizes
        if list(sizes) != sorted(set(sizes)):
            raise InvalidInput(f"preferred_batch_sizes must be ascending and unique, got {sizes}")
        if sizes and not 1 <= sizes[0] <= sizes[-1] <= self.max_batch_size:
            raise InvalidInput(
                f"preferred_batch_sizes must lie in 1..max_batch_size "
                f"({self.max_batch_size}), got {sizes}")

    @property
    def max_queue_delay_s(self) -> float:
        return self.max_queue_delay_us / 1e6


_OVERRIDABLE = ("max_batch_size", "max_queue_delay_us", "preferred_batch_sizes",
                "max_queue_size")


def parse_override(text: str) -> tuple[str, str, int | tuple[int, ...]]:
    """``SLOT.KEY=VALUE`` -> (slot or kind, key, value); sizes are written ``2/4/8``."""
    target, dot, rest = text.partition(".")
    key, eq, value = rest.partition("=")
    if not dot or not eq or not target or key not in _OVERRIDABLE:
        raise InvalidInput(f"bad batching override {text!r}: expected SLOT.KEY=VALUE with KEY "
                           f"one of {', '.join(_OVERRIDABLE)} (e.g. rec.max_batch_size=16)")
    try:
        parsed = (tuple(int(v) for v in value.split("/")) if key == "preferred_batch_sizes"
                  else int(value))
    except ValueError:
        raise InvalidInput(f"bad batching override {text!r}: {value!r} is not a number") from None
    return target, key, parsed


def policy_for_slot(base: BatchPolicy, slot: str, overrides: Sequence[str]) -> BatchPolicy:
    """``base`` with the overrides for the slot's kind, then those for the slot itself."""
    kind = slot.split(":", 1)[0]
    parsed = [parse_override(o) for o in overrides]
    changes = {key: value for target, key, value in parsed if target == kind}
    changes |= {key: value for target, key, value in parsed if target == slot and slot != kind}
    policy = replace(base, **changes)  # type: ignore[arg-type]
    policy.validate()
    return policy


class Queued(Protocol):
    """What the policy reads from a queued item."""

    @property
    def group_key(self) -> Hashable: ...
    @property
    def sort_key(self) -> float: ...
    @property
    def priority(self) -> int: ...
    @property
    def enqueued_at(self) -> float: ...
    @property
    def seq(self) -> int: ...
    @property
    def deadline(self) -> float | None: ...
    @property
    def flow(self) -> Hashable: ...


T = TypeVar("T", bound=Queued)
K = TypeVar("K", bound=Hashable)


#: An item's rank among its flow's queued items, keyed by ``id(item)``.
Ranks = Mapping[int, int]


def is_expired(item: Queued, now: float, lead: float = 0.0) -> bool:
    """Whether ``item`` can no longer finish in time: its deadline is before ``now``
    plus ``lead`` (the time a batch of its group takes to run)."""
    return item.deadline is not None and item.deadline <= now + lead


def flow_ranks(items: Iterable[Queued],
               served: Mapping[Hashable, int] | None = None) -> dict[int, int]:
    """Each item's rank: its flow's items ``served`` so far plus its place among the
    flow's queued items, oldest first."""
    seen: dict[Hashable, int] = dict(served or {})
    ranks: dict[int, int] = {}
    for item in sorted(items, key=_oldest_first):
        ranks[id(item)] = seen.get(item.flow, 0)
        seen[item.flow] = ranks[id(item)] + 1
    return ranks


def batch_size(available: int, policy: BatchPolicy) -> int:
    """Items to take from a ready group holding ``available`` items."""
    cap = min(available, policy.max_batch_size)
    return max((s for s in policy.preferred_batch_sizes if s <= cap), default=cap)


def ready_at(items: Sequence[Queued], policy: BatchPolicy, *, draining: bool) -> float:
    """Clock time from which the group ``items`` may run (-inf: already full enough)."""
    if not items:
        return math.inf
    smallest_preferred = min(policy.preferred_batch_sizes, default=math.inf)
    if draining or len(items) >= min(policy.max_batch_size, smallest_preferred):
        return -math.inf
    return min(item.enqueued_at for item in items) + policy.max_queue_delay_s


def ready_groups(groups: Mapping[K, Sequence[Queued]], now: float, policy: BatchPolicy,
                 *, draining: bool, ranks: Ranks | None = None) -> list[K]:
    """Keys of the groups ready at ``now``, the one holding the most urgent item first."""
    ranks = flow_ranks(_all(groups)) if ranks is None else ranks
    ready = [(min(_urgency(item, ranks) for item in items), key)
             for key, items in groups.items()
             if ready_at(items, policy, draining=draining) <= now]
    return [key for _, key in sorted(ready, key=lambda pair: pair[0])]


def select_items(items: Sequence[T], size: int, ranks: Ranks | None = None) -> list[T]:
    """Pick ``size`` of ``items`` (one group), returned in ascending ``sort_key`` order."""
    ranks = flow_ranks(items) if ranks is None else ranks

    def level(item: T) -> tuple[int, int]:
        return item.priority, ranks[id(item)]

    taken: list[T] = []
    for _, same in itertools.groupby(sorted(items, key=level), key=level):
        need = size - len(taken)
        if need <= 0:
            break
        same_level = sorted(same, key=_by_sort_key)
        taken.extend(same_level if len(same_level) <= need else _run_with_oldest(same_level, need))
    return sorted(taken, key=_by_sort_key)


def plan_batch(groups: Mapping[K, Sequence[T]], now: float, policy: BatchPolicy,
               *, draining: bool, served: Mapping[Hashable, int] | None = None
               ) -> tuple[K, list[T]] | None:
    """The next batch to run as (group key, items), or None when no group is ready.

    ``served``: how many items of each flow have run so far (see :func:`flow_ranks`).
    """
    ranks = flow_ranks(_all(groups), served)
    ready = ready_groups(groups, now, policy, draining=draining, ranks=ranks)
    if not ready:
        return None
    key = ready[0]
    items = groups[key]
    return key, select_items(items, batch_size(len(items), policy), ranks)


def next_wakeup(groups: Mapping[K, Sequence[Queued]], policy: BatchPolicy, *,
                draining: bool, batch_running: bool,
                lead: Mapping[K, float] | None = None) -> float | None:
    """Earliest clock time at which something changes without new input, or None.

    That is the moment an item expires (its deadline less its group's ``lead``), or
    (when no batch runs, so one could start) the time a group becomes ready.
    """
    lead = lead or {}
    times = [item.deadline - lead.get(key, 0.0) for key, items in groups.items()
             for item in items if item.deadline is not None]
    if not batch_running:
        times.extend(ready_at(items, policy, draining=draining) for items in groups.values())
    return min(times, default=None)


def _all(groups: Mapping[K, Sequence[T]]) -> Iterable[T]:
    return (item for items in groups.values() for item in items)


def _urgency(item: Queued, ranks: Ranks) -> tuple[int, int, float, int]:
    return item.priority, ranks[id(item)], item.enqueued_at, item.seq


def _by_sort_key(item: Queued) -> tuple[float, int]:
    return item.sort_key, item.seq


def _oldest_first(item: Queued) -> tuple[float, float, int]:
    # Among items admitted together (one request's crops) start from the smallest sort
    # key, so a request's crops are cut into batches in sort order, as PaddleOCR does.
    return item.enqueued_at, item.sort_key, item.seq


def _run_with_oldest(ordered: list[T], size: int) -> list[T]:
    """The ``size`` adjacent items of ``ordered`` (by sort key) containing the oldest item
    whose sort keys span the least."""
    anchor = min(range(len(ordered)), key=lambda i: _oldest_first(ordered[i]))
    starts = range(max(0, anchor - size + 1), min(anchor, len(ordered) - size) + 1)
    best = min(starts, key=lambda s: (ordered[s + size - 1].sort_key - ordered[s].sort_key, s))
    return ordered[best:best + size]
