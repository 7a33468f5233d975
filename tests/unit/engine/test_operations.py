"""OperationLog: a request id runs its operation once, whatever the callers do."""

from __future__ import annotations

import asyncio

import pytest

from ocrserve.engine.operations import OperationLog
from ocrserve.errors import FailedPrecondition, InvalidInput, NotFound, Reason, Unavailable


class Counter:
    """An operation that counts its runs and can be held at ``gate``."""

    def __init__(self, error: Exception | None = None) -> None:
        self.runs = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.error = error

    async def __call__(self) -> str:
        self.runs += 1
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        return f"result {self.runs}"


def test_a_repeated_request_id_gets_the_stored_result_without_running_again() -> None:
    async def main() -> None:
        log: OperationLog[str] = OperationLog()
        op = Counter()
        assert await log.run("r1", ("swap", "rec"), op) == "result 1"
        assert await log.run("r1", ("swap", "rec"), op) == "result 1"
        assert op.runs == 1
        assert await log.run("r2", ("swap", "rec"), op) == "result 2"
        assert await log.run(None, ("swap", "rec"), op) == "result 3"  # no id: always runs
        assert await log.run(None, ("swap", "rec"), op) == "result 4"
    asyncio.run(main())


def test_a_concurrent_duplicate_waits_for_the_first() -> None:
    async def main() -> None:
        log: OperationLog[str] = OperationLog()
        op = Counter()
        op.gate.clear()
        first = asyncio.create_task(log.run("r", "sig", op))
        second = asyncio.create_task(log.run("r", "sig", op))
        await asyncio.sleep(0.01)
        assert not first.done() and not second.done()
        op.gate.set()
        assert await asyncio.gather(first, second) == ["result 1", "result 1"]
        assert op.runs == 1
    asyncio.run(main())


def test_a_stored_error_is_raised_again_as_a_fresh_copy() -> None:
    async def main() -> None:
        log: OperationLog[str] = OperationLog()
        op = Counter(NotFound("model x is not installed", reason=Reason.MODEL_NOT_FOUND))
        errors = []
        for _ in range(2):
            with pytest.raises(NotFound, match="model x") as info:
                await log.run("r", "sig", op)
            errors.append(info.value)
        assert op.runs == 1
        assert errors[0] is not errors[1] and errors[1].reason == Reason.MODEL_NOT_FOUND
    asyncio.run(main())


def test_transient_errors_are_not_remembered() -> None:
    async def main() -> None:
        log: OperationLog[str] = OperationLog()
        op = Counter(Unavailable("shutting down"))
        for _ in range(2):
            with pytest.raises(Unavailable):
                await log.run("r", "sig", op)
        assert op.runs == 2
        op.error = None
        assert await log.run("r", "sig", op) == "result 3"
    asyncio.run(main())


def test_a_request_id_reused_for_another_operation_is_refused() -> None:
    async def main() -> None:
        log: OperationLog[str] = OperationLog()
        await log.run("r", ("swap", "rec", "a"), Counter())
        with pytest.raises(InvalidInput, match="already used") as info:
            await log.run("r", ("swap", "rec", "b"), Counter())
        assert info.value.field == "request_id"
    asyncio.run(main())


def test_a_caller_that_goes_away_does_not_stop_the_operation() -> None:
    async def main() -> None:
        log: OperationLog[str] = OperationLog()
        op = Counter()
        op.gate.clear()
        caller = asyncio.create_task(log.run("r", "sig", op))
        await asyncio.sleep(0.01)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        op.gate.set()
        await log.wait_all()
        assert await log.run("r", "sig", op) == "result 1"  # it finished, and was recorded
        assert op.runs == 1
    asyncio.run(main())


def test_only_the_newest_outcomes_are_kept() -> None:
    async def main() -> None:
        log: OperationLog[str] = OperationLog(capacity=2)
        op = Counter(FailedPrecondition("busy", reason=Reason.SLOT_BUSY))
        for request_id in ("a", "b", "c"):
            with pytest.raises(FailedPrecondition):
                await log.run(request_id, "sig", op)
        op.error = None
        assert await log.run("a", "sig", op) == "result 4"  # forgotten: runs again
        with pytest.raises(FailedPrecondition):
            await log.run("c", "sig", op)  # still remembered
        assert op.runs == 4
    asyncio.run(main())
