"""Admission by cost: a request is taken whole or refused before any work starts.

A request's cost is the pixels of its images, read from their headers (decoding,
resizing, crops and tensors all grow with it).  Each front-end process admits
requests while the cost of those in flight stays within its budget; one that
would exceed it is refused at once with RESOURCE_EXHAUSTED and a retry delay,
never half-served.  An idle front-end admits any request the per-request limit
allows, so every allowed request can complete.  What is admitted is bounded, so
the engine's queues (sized far above it) never refuse an admitted request's
crops, and the batcher's per-request round robin keeps one large request from
starving small ones.

Pure bookkeeping (no I/O): the servicer wraps each request in :meth:`admit`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ocrserve.errors import InvalidInput, Reason, ResourceExhausted


class Admission:
    """The admission budget of one front-end process, in pixels."""

    def __init__(self, budget: int, per_request: int,
                 on_idle: Callable[[], None] | None = None,
                 on_change: Callable[[int], None] | None = None,
                 on_busy: Callable[[], None] | None = None) -> None:
        """``on_idle`` is called each time the last request in flight finishes and
        ``on_busy`` when one starts with none in flight (memory.IdleTrim);
        ``on_change`` with the pixels in flight whenever they change (spread.py's board)."""
        if per_request > budget:
            raise ValueError(f"a request limit of {per_request} over the budget {budget} "
                             "could never be admitted")
        self.budget = budget
        self.per_request = per_request
        self._on_idle = on_idle
        self._on_busy = on_busy
        self._on_change = on_change
        self.in_flight = 0
        self.requests = 0
        self.refused = 0

    @contextmanager
    def admit(self, cost: int) -> Iterator[None]:
        """Hold ``cost`` of the budget for the duration of the block, or refuse now."""
        if cost > self.per_request:
            raise InvalidInput(
                f"the request's images hold {cost} pixels together; the limit is "
                f"{self.per_request} (max_request_pixels): send them in smaller requests",
                reason=Reason.REQUEST_TOO_LARGE, field="images",
                metadata={"limit": self.per_request, "value": cost,
                          "setting": "max_request_pixels"})
        if self.requests and self.in_flight + cost > self.budget:
            self.refused += 1
            raise ResourceExhausted(
                f"the server is busy: {self.in_flight} pixels of requests in flight, this one "
                f"adds {cost}, the budget is {self.budget} (max_inflight_pixels)",
                reason=Reason.SERVER_OVERLOADED,
                metadata={"limit": self.budget, "value": self.in_flight + cost,
                          "setting": "max_inflight_pixels"})
        if not self.requests and self._on_busy is not None:
            self._on_busy()
        self.in_flight += cost
        self.requests += 1
        self._changed()
        try:
            yield
        finally:
            self.in_flight -= cost
            self.requests -= 1
            self._changed()
            if not self.requests and self._on_idle is not None:
                self._on_idle()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self.in_flight)
