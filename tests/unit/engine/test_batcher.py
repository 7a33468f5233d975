"""The dynamic batcher on a real event loop, with a batch function held by an Event."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from ocrserve.engine.batcher import DynamicBatcher
from ocrserve.engine.policy import BatchPolicy, Priority
from ocrserve.errors import (
    DeadlineExceeded,
    InvalidInput,
    ModelError,
    ResourceExhausted,
    Unavailable,
)

NEVER_US = 60 * 10**6  # a queue delay no test waits for: batches form for other reasons


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A batch function that records its calls and waits at ``gate`` (open unless held)."""

    def __init__(self, *, hold: bool = False) -> None:
        self.calls: list[list[Any]] = []
        self.gate = asyncio.Event()
        if not hold:
            self.gate.set()
        self.entered = asyncio.Event()
        self.active = 0
        self.max_active = 0

    async def __call__(self, payloads: list[Any]) -> list[Any]:
        self.calls.append(list(payloads))
        self.entered.set()
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            await self.gate.wait()
            await asyncio.sleep(0)
        finally:
            self.active -= 1
        return [f"r{payload}" for payload in payloads]


async def settle() -> None:
    """Let every ready task run until it blocks."""
    for _ in range(20):
        await asyncio.sleep(0)


def spawn(batcher: DynamicBatcher, *payloads: Any, **kwargs: Any) -> list[asyncio.Task[Any]]:
    return [asyncio.create_task(batcher.submit(p, **kwargs)) for p in payloads]


def test_items_accumulate_into_one_batch_while_a_batch_runs() -> None:
    # Built outside any event loop: the background task starts on the first submit.
    rec = Recorder(hold=True)
    batcher = DynamicBatcher(rec, BatchPolicy(max_batch_size=8, max_queue_delay_us=0), name="rec")

    async def scenario() -> list[Any]:
        first = spawn(batcher, "a")
        await rec.entered.wait()
        rest = spawn(batcher, *"bcdef")
        await settle()
        assert (batcher.stats.queued, batcher.stats.running) == (5, 1)
        rec.gate.set()
        results = await asyncio.gather(*first, *rest)
        await batcher.close()
        return results

    assert asyncio.run(scenario()) == ["ra", "rb", "rc", "rd", "re", "rf"]
    assert rec.calls == [["a"], list("bcdef")]
    stats = batcher.stats
    assert (stats.name, stats.batches, stats.items, stats.queued) == ("rec", 2, 6, 0)
    assert stats.batch_sizes == {1: 1, 5: 1}
    assert stats.queue_wait_s_sum >= 0.0


def test_batches_never_exceed_max_batch_size() -> None:
    async def scenario() -> tuple[Recorder, list[Any]]:
        rec = Recorder(hold=True)
        batcher = DynamicBatcher(rec, BatchPolicy(max_batch_size=4, max_queue_delay_us=0))
        first = spawn(batcher, "x")
        await rec.entered.wait()
        many = asyncio.create_task(batcher.submit_many(list(range(10))))
        await settle()
        rec.gate.set()
        await asyncio.gather(*first)
        results = await many
        await batcher.close()
        return rec, results

    rec, results = asyncio.run(scenario())
    assert [len(call) for call in rec.calls] == [1, 4, 4, 2]
    assert results == [f"r{i}" for i in range(10)]


def test_group_keys_never_share_a_batch() -> None:
    async def scenario() -> Recorder:
        rec = Recorder(hold=True)
        batcher = DynamicBatcher(rec, BatchPolicy(max_batch_size=8, max_queue_delay_us=0))
        tasks = spawn(batcher, ("w0", -1), group_key="w0")
        await rec.entered.wait()
        for i in range(12):
            key = ("w320", "w640", "w0")[i % 3]
            tasks += spawn(batcher, (key, i), group_key=key)
        await settle()
        rec.gate.set()
        await asyncio.gather(*tasks)
        await batcher.close()
        return rec

    rec = asyncio.run(scenario())
    assert all(len({key for key, _ in call}) == 1 for call in rec.calls)
    assert sorted(i for call in rec.calls for _, i in call) == list(range(-1, 12))
    assert len(rec.calls) == 4  # the held one, then one per group


def test_similar_sort_keys_share_batches_and_results_keep_request_order() -> None:
    ratios = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0, 8.0]

    async def scenario() -> tuple[Recorder, list[Any]]:
        rec = Recorder()
        batcher = DynamicBatcher(rec, BatchPolicy(max_batch_size=3, max_queue_delay_us=0),
                                 clock=FakeClock())
        results = await batcher.submit_many(ratios, sort_keys=ratios)
        await batcher.close()
        return rec, results

    rec, results = asyncio.run(scenario())
    assert rec.calls == [[1.0, 2.0, 3.0], [5.0, 7.0, 8.0], [9.0]]
    assert results == [f"r{r}" for r in ratios]


def test_preferred_sizes_run_at_once_and_leftovers_wait_for_the_delay() -> None:
    async def scenario() -> tuple[Recorder, list[Any]]:
        rec = Recorder()
        policy = BatchPolicy(max_batch_size=8, preferred_batch_sizes=(2, 4),
                             max_queue_delay_us=NEVER_US)
        batcher = DynamicBatcher(rec, policy, clock=FakeClock())
        many = asyncio.create_task(batcher.submit_many(list(range(7))))
        await settle()
        assert [len(call) for call in rec.calls] == [4, 2]
        assert batcher.stats.queued == 1
        await batcher.close()  # draining runs the last one without waiting
        return rec, await many

    rec, results = asyncio.run(scenario())
    assert [len(call) for call in rec.calls] == [4, 2, 1]
    assert results == [f"r{i}" for i in range(7)]


def test_queue_delay_releases_a_partial_batch() -> None:
    delay_s = 0.03

    async def scenario() -> tuple[Recorder, list[Any], float]:
        rec = Recorder()
        batcher = DynamicBatcher(
            rec, BatchPolicy(max_batch_size=8, max_queue_delay_us=int(delay_s * 1e6)))
        start = time.monotonic()
        tasks = spawn(batcher, "a", "b")
        await settle()
        assert rec.calls == []  # two of eight: waits for the delay
        results = await asyncio.gather(*tasks)
        elapsed = time.monotonic() - start
        await batcher.close()
        return rec, results, elapsed

    rec, results, elapsed = asyncio.run(scenario())
    assert rec.calls == [["a", "b"]]
    assert results == ["ra", "rb"]
    assert delay_s <= elapsed < 1.0


def test_group_with_oldest_high_priority_item_runs_first() -> None:
    async def scenario() -> Recorder:
        rec = Recorder(hold=True)
        batcher = DynamicBatcher(rec, BatchPolicy(max_batch_size=8, max_queue_delay_us=0))
        tasks = spawn(batcher, "x", group_key="g")
        await rec.entered.wait()
        tasks += spawn(batcher, "n1", "n2", group_key="normal")
        await settle()
        tasks += spawn(batcher, "h1", group_key="high", priority=Priority.HIGH)
        await settle()
        rec.gate.set()
        await asyncio.gather(*tasks)
        await batcher.close()
        return rec

    assert asyncio.run(scenario()).calls == [["x"], ["h1"], ["n1", "n2"]]


def test_high_priority_items_are_taken_first_within_a_group() -> None:
    async def scenario() -> Recorder:
        rec = Recorder(hold=True)
        batcher = DynamicBatcher(rec, BatchPolicy(max_batch_size=2, max_queue_delay_us=0),
                                 clock=FakeClock())
        tasks = spawn(batcher, "x")
        await rec.entered.wait()
        for payload, key in (("n1", 1.0), ("n2", 2.0), ("n3", 3.0)):
            tasks += spawn(batcher, payload, sort_key=key)
        tasks += spawn(batcher, "h", sort_key=9.0, priority=Priority.HIGH)
        await settle()
        rec.gate.set()
        await asyncio.gather(*tasks)
        await batcher.close()
        return rec

    assert asyncio.run(scenario()).calls == [["x"], ["n1", "h"], ["n2", "n3"]]


def test_full_queue_rejects_the_whole_request() -> None:
    async def scenario() -> None:
        rec = Recorder()
        policy = BatchPolicy(max_batch_size=8, max_queue_delay_us=NEVER_US, max_queue_size=4)
        batcher = DynamicBatcher(rec, policy, clock=FakeClock())
        first = asyncio.create_task(batcher.submit_many(["a", "b", "c"]))
        await settle()
        with pytest.raises(ResourceExhausted, match="queue full"):
            await batcher.submit_many(["d", "e"])
        assert (batcher.stats.queued, batcher.stats.rejected_full) == (3, 2)
        last = spawn(batcher, "d")  # exactly fills the queue
        await settle()
        await batcher.close()
        assert await first == ["ra", "rb", "rc"]
        assert await last[0] == "rd"
        assert rec.calls == [["a", "b", "c", "d"]]

    asyncio.run(scenario())


def test_expired_item_fails_without_running() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        rec = Recorder(hold=True)
        batcher = DynamicBatcher(rec, BatchPolicy(max_batch_size=8, max_queue_delay_us=0),
                                 clock=clock)
        first = spawn(batcher, "x")
        await rec.entered.wait()
        late = spawn(batcher, "late", deadline=clock.now + 1.0)
        await settle()
        clock.now += 2.0
        rec.gate.set()
        assert await first[0] == "rx"
        with pytest.raises(DeadlineExceeded):
            await late[0]
        await batcher.close()
        assert rec.calls == [["x"]]
        assert batcher.stats.dropped_deadline == 1

    asyncio.run(scenario())


def test_deadline_fails_promptly_while_another_batch_runs() -> None:
    async def scenario() -> None:
        rec = Recorder(hold=True)
        batcher = DynamicBatcher(rec, BatchPolicy(max_batch_size=8, max_queue_delay_us=0))
        first = spawn(batcher, "x")
        await rec.entered.wait()
        late = spawn(batcher, "late", deadline=time.monotonic() + 0.02)
        with pytest.raises(DeadlineExceeded):
            await asyncio.wait_for(late[0], timeout=2.0)
        assert rec.active == 1  # the first batch is still held
        rec.gate.set()
        await asyncio.gather(*first)
        await batcher.close()
        assert rec.calls == [["x"]]

    asyncio.run(scenario())


def test_past_deadline_is_refused_at_submit() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        batcher = DynamicBatcher(Recorder(), BatchPolicy(), clock=clock)
        with pytest.raises(DeadlineExceeded):
            await batcher.submit("x", deadline=clock.now)
        assert batcher.stats.queued == 0

    asyncio.run(scenario())


def test_cancelled_callers_items_are_dropped() -> None:
    async def scenario() -> None:
        rec = Recorder(hold=True)
        batcher = DynamicBatcher(rec, BatchPolicy(max_batch_size=8, max_queue_delay_us=0))
        first = spawn(batcher, "x")
        await rec.entered.wait()
        gone = spawn(batcher, "gone")
        stays = spawn(batcher, "stays")
        request = asyncio.create_task(batcher.submit_many(["r1", "r2"]))
        await settle()
        gone[0].cancel()
        request.cancel()
        await settle()
        assert batcher.stats.dropped_cancelled == 3
        assert batcher.stats.queued == 1
        rec.gate.set()
        assert await asyncio.gather(*first, *stays) == ["rx", "rstays"]
        await batcher.close()
        assert rec.calls == [["x"], ["stays"]]

    asyncio.run(scenario())


async def _wrong_count(payloads: list[Any]) -> list[Any]:
    return payloads[:-1]


async def _raises_invalid(payloads: list[Any]) -> list[Any]:
    raise InvalidInput("crop too wide")


async def _raises_value_error(payloads: list[Any]) -> list[Any]:
    raise ValueError("boom")


async def _returns_none(payloads: list[Any]) -> None:
    return None


async def _gather_pair(run_batch: Any) -> tuple[list[Any], DynamicBatcher]:
    """Run two items as one batch (the group is ready only at two) and collect outcomes."""
    batcher = DynamicBatcher(run_batch, BatchPolicy(max_batch_size=2, max_queue_delay_us=NEVER_US),
                             clock=FakeClock())
    outcomes = await asyncio.gather(*spawn(batcher, "a", "b"), return_exceptions=True)
    await batcher.close()
    return outcomes, batcher


@pytest.mark.parametrize(("run_batch", "error", "message"), [
    (_wrong_count, ModelError, "returned 1 results for 2 items"),
    (_returns_none, ModelError, "returned NoneType"),
    (_raises_invalid, InvalidInput, "crop too wide"),
    (_raises_value_error, ModelError, "ValueError: boom"),
])
def test_batch_failure_reaches_every_caller(run_batch: Any, error: type[Exception],
                                            message: str) -> None:
    outcomes, batcher = asyncio.run(_gather_pair(run_batch))
    assert len(outcomes) == 2
    for outcome in outcomes:
        assert type(outcome) is error
        assert message in str(outcome)
    assert (batcher.stats.failed_batches, batcher.stats.batches) == (1, 1)


def test_only_one_batch_runs_at_a_time() -> None:
    async def scenario() -> tuple[Recorder, list[Any]]:
        rec = Recorder()  # yields inside each batch, giving others a chance to overlap
        batcher = DynamicBatcher(rec, BatchPolicy(max_batch_size=3, max_queue_delay_us=0))
        tasks = [asyncio.create_task(batcher.submit(i, group_key=i % 3)) for i in range(30)]
        results = await asyncio.gather(*tasks)
        await batcher.close()
        return rec, results

    rec, results = asyncio.run(scenario())
    assert results == [f"r{i}" for i in range(30)]
    assert rec.max_active == 1
    assert len(rec.calls) >= 10


def test_close_drains_queued_items_and_rejects_new_ones() -> None:
    async def scenario() -> None:
        rec = Recorder()
        batcher = DynamicBatcher(rec, BatchPolicy(max_batch_size=8, max_queue_delay_us=NEVER_US),
                                 clock=FakeClock())
        tasks = spawn(batcher, "a", "b", "c")
        await settle()
        assert rec.calls == []
        await batcher.close()
        assert [task.result() for task in tasks] == ["ra", "rb", "rc"]
        with pytest.raises(Unavailable):
            await batcher.submit("d")
        with pytest.raises(Unavailable):
            await batcher.submit_many(["e"])
        await batcher.close()  # idempotent
        assert rec.calls == [["a", "b", "c"]]

    asyncio.run(scenario())


def test_close_waits_for_the_running_batch() -> None:
    async def scenario() -> None:
        rec = Recorder(hold=True)
        batcher = DynamicBatcher(rec, BatchPolicy(max_batch_size=8, max_queue_delay_us=0))
        first = spawn(batcher, "x")
        await rec.entered.wait()
        closing = asyncio.create_task(batcher.close())
        await settle()
        assert not closing.done()
        rec.gate.set()
        await closing
        assert first[0].result() == "rx"

    asyncio.run(scenario())


def test_cancelled_close_fails_what_is_left_with_unavailable() -> None:
    async def scenario() -> None:
        rec = Recorder(hold=True)
        batcher = DynamicBatcher(rec, BatchPolicy(max_batch_size=1, max_queue_delay_us=0))
        tasks = spawn(batcher, "running", "queued")
        await rec.entered.wait()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await batcher.close()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        assert [type(outcome) for outcome in outcomes] == [Unavailable, Unavailable]
        assert rec.calls == [["running"]]

    asyncio.run(scenario())


def test_close_before_any_submit() -> None:
    batcher = DynamicBatcher(Recorder(), BatchPolicy())
    asyncio.run(batcher.close())
    assert batcher.stats.batches == 0


def test_invalid_policy_and_mismatched_keys_are_refused() -> None:
    with pytest.raises(InvalidInput):
        DynamicBatcher(Recorder(), BatchPolicy(max_batch_size=0))

    async def scenario() -> None:
        batcher = DynamicBatcher(Recorder(), BatchPolicy())
        with pytest.raises(InvalidInput, match="2 payloads but 1 group keys"):
            await batcher.submit_many(["a", "b"], group_keys=["k"])
        assert await batcher.submit_many([]) == []

    asyncio.run(scenario())


def test_an_item_that_would_finish_too_late_is_not_run() -> None:
    async def scenario() -> None:
        clock = FakeClock()

        async def slow(payloads: list[Any]) -> list[Any]:
            clock.now += 1.0  # every batch of this group takes a second
            return payloads

        batcher = DynamicBatcher(slow, BatchPolicy(max_batch_size=1, max_queue_delay_us=0),
                                 clock=clock)
        assert await batcher.submit("warm") == "warm"  # the batcher learns the run time
        with pytest.raises(DeadlineExceeded):
            await batcher.submit("late", deadline=clock.now + 0.5)
        assert await batcher.submit("in time", deadline=clock.now + 5.0) == "in time"
        await batcher.close()
        assert (batcher.stats.batches, batcher.stats.dropped_deadline) == (2, 1)

    asyncio.run(scenario())


def test_requests_are_served_round_robin_by_flow() -> None:
    async def scenario() -> None:
        rec = Recorder(hold=True)
        batcher = DynamicBatcher(rec, BatchPolicy(max_batch_size=4, max_queue_delay_us=0))
        first = spawn(batcher, "x")
        await rec.entered.wait()
        big = asyncio.create_task(batcher.submit_many([f"b{i}" for i in range(12)], flow="big"))
        await settle()
        small = asyncio.create_task(batcher.submit_many(["s0", "s1"], flow="small"))
        await settle()
        rec.gate.set()
        await asyncio.gather(*first, big, small)
        await batcher.close()
        # The small request joins the very next batch instead of waiting for all of "big".
        assert rec.calls[1] == ["b0", "b1", "s0", "s1"]

    asyncio.run(scenario())


def test_a_stream_of_new_requests_does_not_starve_one_half_done() -> None:
    """Closed loop: each time a batch ends, a new request of a full batch arrives.  Counting
    each newcomer from zero would put all of them ahead of the big request's rest for
    as long as they keep coming; level with the furthest-served flow, the big request
    gets its turn in every batch."""
    async def scenario() -> None:
        rec = Recorder(hold=True)
        batcher = DynamicBatcher(rec, BatchPolicy(max_batch_size=4, max_queue_delay_us=0))
        big = asyncio.create_task(batcher.submit_many([f"b{i}" for i in range(12)], flow="big"))
        await rec.entered.wait()  # b0-b3 run
        newcomers = []
        for n in range(6):
            newcomers.append(asyncio.create_task(
                batcher.submit_many([f"n{n}-{i}" for i in range(4)], flow=f"new{n}")))
            await settle()
            rec.gate.set()  # let the running batch end; the next one forms at once
            await settle()
            rec.gate.clear()
        rec.gate.set()
        await asyncio.gather(big, *newcomers)
        await batcher.close()
        # Every batch while "big" had items left took some of them.
        left = 12
        for call in rec.calls:
            if left == 0:
                break
            taken = sum(payload.startswith("b") for payload in call)
            assert taken > 0, rec.calls
            left -= taken

    asyncio.run(scenario())
