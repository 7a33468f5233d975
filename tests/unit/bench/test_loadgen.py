from __future__ import annotations

import asyncio

import pytest

from ocrserve.bench.loadgen import closed_loop, open_loop, percentile


class Boom(Exception):
    code = "UNAVAILABLE"


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([], 50) == 0.0


def test_closed_loop_never_exceeds_concurrency_and_counts_errors() -> None:
    in_flight = 0
    peak = 0

    async def send(i: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.005)
        in_flight -= 1
        if i % 5 == 0:
            raise Boom()
        return 2

    result = asyncio.run(closed_loop(send, concurrency=4, duration_s=0.3))
    assert peak == 4
    total = result.requests + sum(result.errors.values())
    assert result.errors["UNAVAILABLE"] == len([i for i in range(total) if i % 5 == 0])
    assert result.images == 2 * result.requests
    assert result.percentile(50) >= 5.0


def test_open_loop_keeps_the_rate_even_when_requests_are_slow() -> None:
    started: list[int] = []

    async def send(i: int) -> int:
        started.append(i)
        await asyncio.sleep(0.2)  # slower than the arrival interval
        return 1

    result = asyncio.run(open_loop(send, rate=50, duration_s=0.2))
    assert len(started) == pytest.approx(10, abs=1)
    assert result.requests == len(started)
    assert min(result.latencies_ms) >= 190
