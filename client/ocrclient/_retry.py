"""Retry arithmetic shared by the sync and async clients.

Only what is safe and useful to retry is retried:

- an error the server marked transient with a ``RetryInfo`` (a full queue, an
  engine restarting, a server draining): the request did not run, or ran
  without effect, and the server says when to come back;
- UNAVAILABLE without the server's details: the transport failed (no
  connection, a connection that dropped), so the server never answered.
  Every ocr.v1 RPC only reads, so sending it again cannot do harm.

Every other status is the answer.  Attempts are spaced by exponential backoff
with jitter, never sooner than the server's retry delay, and all attempts
together stay inside the call's one timeout: each attempt gets the time left
as its gRPC deadline, and no retry is made whose wait would end past it.

The default, 4 retries 0.5, 1, 2 and 4 s apart (each 50-100 % of that, for
jitter), waits 3.75-7.5 s in all: longer than a front-end restart (about 1-2 s
on a 2-core machine), so a client with default settings rides through one.  An
engine restart takes longer (it loads and warms the models: 6-10 s on 2 cores),
and the server itself waits for it, up to ``engine_restart_wait_s`` (20 s),
before it answers UNAVAILABLE.

Nothing here sleeps or calls the network: the clients run the loop
(``time.sleep`` or ``asyncio.sleep``) and ask :class:`Attempts` what to do, so
the arithmetic is tested with a fake clock.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from ocrclient._errors import DeadlineExceeded, OcrClientError

Clock = Callable[[], float]

#: Retries after the first attempt, by default.
DEFAULT_RETRIES = 4


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how far apart to retry.

    ``max_attempts`` counts the first try: 4 means up to 3 retries.  Retry
    ``n`` (1-based) waits ``b * (0.5 + 0.5 * u)`` seconds, ``u`` uniform in
    [0, 1), with ``b = min(max_backoff, initial_backoff * multiplier**(n-1))``:
    jitter spreads clients that failed together, and the wait never drops
    below half the nominal backoff.
    """

    max_attempts: int = DEFAULT_RETRIES + 1
    initial_backoff: float = 0.5
    max_backoff: float = 4.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {self.max_attempts}")
        if not 0 < self.initial_backoff <= self.max_backoff or self.multiplier < 1:
            raise ValueError("need 0 < initial_backoff <= max_backoff and multiplier >= 1")

    @classmethod
    def with_retries(cls, retries: int) -> RetryPolicy:
        return cls(max_attempts=retries + 1)

    def backoff(self, retry: int, jitter: float) -> float:
        """Seconds to wait before retry number ``retry`` (1-based); ``jitter`` in [0, 1)."""
        nominal = min(self.max_backoff, self.initial_backoff * self.multiplier ** (retry - 1))
        return nominal * (0.5 + 0.5 * jitter)

    @staticmethod
    def retryable(error: OcrClientError) -> bool:
        """Whether ``error`` may be retried (see the module docstring)."""
        if error.retry_delay is not None:
            return True
        return error.code == "UNAVAILABLE" and not error.reason

    def start(self, timeout: float | None, *, clock: Clock = time.monotonic,
              rand: Clock = random.random) -> Attempts:
        """Begin one call whose attempts must all end within ``timeout`` seconds."""
        return Attempts(self, timeout, clock, rand)


class Attempts:
    """The retry state of one call.

    Loop: ``timeout = attempts.next_timeout()``, make the attempt with it; on
    failure ``delay = attempts.delay_after(error)``: ``None`` means raise the
    error, otherwise sleep ``delay`` and go round again.
    """

    def __init__(self, policy: RetryPolicy, timeout: float | None, clock: Clock,
                 rand: Clock) -> None:
        self._policy = policy
        self._clock = clock
        self._rand = rand
        self._deadline = None if timeout is None else clock() + timeout
        self.made = 0

    def next_timeout(self) -> float | None:
        """Record an attempt and return its gRPC timeout: the time left, or None (no limit).

        Raises DeadlineExceeded when the call's time is already spent.
        """
        if self._deadline is None:
            self.made += 1
            return None
        left = self._deadline - self._clock()
        if left <= 0:
            raise DeadlineExceeded(f"timed out before attempt {self.made + 1}")
        self.made += 1
        return left

    def delay_after(self, error: OcrClientError) -> float | None:
        """Seconds to wait before retrying after ``error``, or None to give up."""
        if not self._policy.retryable(error) or self.made >= self._policy.max_attempts:
            return None
        delay = max(self._policy.backoff(self.made, self._rand()), error.retry_delay or 0.0)
        if self._deadline is not None and self._clock() + delay >= self._deadline:
            return None
        return delay
