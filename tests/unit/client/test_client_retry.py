"""Retry arithmetic with a fake clock: backoff, attempts, and the overall timeout."""

from __future__ import annotations

import pytest

from ocrclient import (
    DeadlineExceeded,
    InvalidArgument,
    ResourceExhausted,
    RetryPolicy,
    Unavailable,
)
from ocrclient._retry import Attempts


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _start(policy: RetryPolicy, timeout: float | None, jitter: float = 0.0
           ) -> tuple[Attempts, FakeClock]:
    clock = FakeClock()
    return policy.start(timeout, clock=clock, rand=lambda: jitter), clock


UNAVAILABLE = Unavailable("server down")


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    policy = RetryPolicy(initial_backoff=0.25, multiplier=2.0, max_backoff=1.0)
    nominal = [policy.backoff(n, jitter=0.999999) for n in range(1, 6)]
    assert nominal == pytest.approx([0.25, 0.5, 1.0, 1.0, 1.0], rel=1e-5)


@pytest.mark.parametrize("retry", [1, 2, 3, 8])
def test_jitter_keeps_backoff_between_half_and_full_nominal(retry: int) -> None:
    policy = RetryPolicy(initial_backoff=0.1, multiplier=3.0, max_backoff=2.0)
    nominal = min(2.0, 0.1 * 3.0 ** (retry - 1))
    low, high = policy.backoff(retry, 0.0), policy.backoff(retry, 0.999999)
    assert low == pytest.approx(nominal / 2)
    assert nominal / 2 <= low < high <= nominal


def test_retries_unavailable_until_max_attempts() -> None:
    attempts, clock = _start(RetryPolicy(max_attempts=3, initial_backoff=0.1), timeout=60)
    delays = []
    while True:
        attempts.next_timeout()
        delay = attempts.delay_after(UNAVAILABLE)
        if delay is None:
            break
        delays.append(delay)
        clock.now += delay
    assert attempts.made == 3
    assert delays == pytest.approx([0.05, 0.1])  # jitter 0: half the nominal backoff


@pytest.mark.parametrize("error", [
    InvalidArgument("bad"), DeadlineExceeded("late"),
    # RESOURCE_EXHAUSTED without RetryInfo: gRPC's own message-size limit, permanent.
    ResourceExhausted("message larger than max"),
    # UNAVAILABLE that the server explained but did not call transient.
    Unavailable("gone for good", reason="SOMETHING_PERMANENT"),
])
def test_other_errors_are_not_retried(error: Exception) -> None:
    attempts, _ = _start(RetryPolicy(), timeout=60)
    attempts.next_timeout()
    assert attempts.delay_after(error) is None  # type: ignore[arg-type]


def test_each_attempt_gets_the_time_left() -> None:
    attempts, clock = _start(RetryPolicy(), timeout=10)
    assert attempts.next_timeout() == pytest.approx(10)
    clock.now += 3.5
    assert attempts.next_timeout() == pytest.approx(6.5)


def test_no_retry_whose_backoff_ends_past_the_deadline() -> None:
    policy = RetryPolicy(max_attempts=10, initial_backoff=1.0, max_backoff=1.0)
    attempts, clock = _start(policy, timeout=2.0, jitter=0.999)
    attempts.next_timeout()
    clock.now += 0.5
    assert attempts.delay_after(UNAVAILABLE) == pytest.approx(0.9995)  # ends at 1.4995 < 2
    clock.now += 1.0
    attempts.next_timeout()
    assert attempts.delay_after(UNAVAILABLE) is None  # would end at 2.4995 > 2


def test_total_time_never_exceeds_the_timeout() -> None:
    policy = RetryPolicy(max_attempts=50, initial_backoff=0.05, max_backoff=0.4)
    attempts, clock = _start(policy, timeout=1.0, jitter=0.5)
    start = clock.now
    while True:
        budget = attempts.next_timeout()
        assert budget is not None and budget > 0
        clock.now += min(budget, 0.03)  # each attempt fails fast with UNAVAILABLE
        delay = attempts.delay_after(UNAVAILABLE)
        if delay is None:
            break
        clock.now += delay
    assert clock.now - start <= 1.0
    assert 3 < attempts.made < 50


def test_spent_timeout_raises_deadline_exceeded() -> None:
    attempts, clock = _start(RetryPolicy(), timeout=1.0)
    clock.now += 1.0
    with pytest.raises(DeadlineExceeded):
        attempts.next_timeout()


def test_no_timeout_means_no_attempt_deadline() -> None:
    attempts, _ = _start(RetryPolicy(max_attempts=2), timeout=None)
    assert attempts.next_timeout() is None
    assert attempts.delay_after(UNAVAILABLE) is not None
    attempts.next_timeout()
    assert attempts.delay_after(UNAVAILABLE) is None


def test_with_retries_counts_the_first_attempt() -> None:
    assert RetryPolicy.with_retries(0).max_attempts == 1
    assert RetryPolicy.with_retries(3).max_attempts == 4


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"initial_backoff": 0.0},
                                    {"initial_backoff": 5.0, "max_backoff": 1.0},
                                    {"multiplier": 0.5}])
def test_invalid_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_server_marked_transient_errors_are_retried_no_sooner_than_asked() -> None:
    full = ResourceExhausted("queue full", reason="QUEUE_FULL", retry_delay=0.8)
    attempts, _ = _start(RetryPolicy(initial_backoff=0.1), timeout=60)
    attempts.next_timeout()
    assert attempts.delay_after(full) == pytest.approx(0.8)
    restarting = Unavailable("engine restarting", reason="ENGINE_UNAVAILABLE", retry_delay=0.5)
    assert attempts.delay_after(restarting) == pytest.approx(0.5)


def test_retry_delay_past_the_deadline_gives_up() -> None:
    full = ResourceExhausted("queue full", reason="QUEUE_FULL", retry_delay=5.0)
    attempts, _ = _start(RetryPolicy(), timeout=2.0)
    attempts.next_timeout()
    assert attempts.delay_after(full) is None
