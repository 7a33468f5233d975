"""The front-end's thread pool takes requests' tasks round robin."""

from __future__ import annotations

import threading

import pytest

from ocrserve.frontend.fair_executor import FairExecutor


def test_tasks_of_different_flows_alternate() -> None:
    current = ["blocker"]
    gate = threading.Event()
    order: list[str] = []
    executor = FairExecutor(1, lambda: current[0])
    blocker = executor.submit(gate.wait)  # hold the only thread while the queues fill
    current[0] = "big"
    big = [executor.submit(order.append, f"big{i}") for i in range(4)]
    current[0] = "small"
    small = [executor.submit(order.append, f"small{i}") for i in range(2)]
    gate.set()
    for future in (blocker, *big, *small):
        future.result(5)
    executor.shutdown()
    assert order == ["big0", "small0", "big1", "small1", "big2", "big3"]


def test_results_and_exceptions_reach_the_caller() -> None:
    executor = FairExecutor(2, lambda: None)
    assert executor.submit(pow, 2, 10).result(5) == 1024
    with pytest.raises(ZeroDivisionError):
        executor.submit(divmod, 1, 0).result(5)
    executor.shutdown()
    with pytest.raises(RuntimeError):
        executor.submit(pow, 2, 2)


def test_shutdown_can_cancel_what_waits() -> None:
    gate, started = threading.Event(), threading.Event()

    def hold() -> bool:
        started.set()
        return gate.wait()

    executor = FairExecutor(1, lambda: None)
    running = executor.submit(hold)
    started.wait(5)
    waiting = executor.submit(pow, 2, 3)
    executor.shutdown(wait=False, cancel_futures=True)
    gate.set()
    assert running.result(5) is True and waiting.cancelled()
