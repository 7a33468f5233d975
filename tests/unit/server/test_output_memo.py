"""The stream memo of model outputs (output_memo.py) and the pipeline's use of it, over a
fake Inference that counts what it is asked to run."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import numpy as np

from ocrserve.engine.policy import Priority
from ocrserve.engine.protocol import Inferred, ModelVersion, SlotInfo
from ocrserve.output_memo import FrameMemo, OutputMemo, input_digest
from ocrserve.pipeline import ModelUse, Pipeline, Request

CLS = SlotInfo(slot="cls", kind="cls", model="m", version=1, backend="fake", device="cpu",
               input_shape=(3, 48, 192))


class CountingInference:
    def __init__(self) -> None:
        self.ran: list[int] = []
        self.version = 1

    def slots(self) -> Mapping[str, SlotInfo]:
        return {"cls": CLS}

    async def infer(self, slot: str, items: Sequence[np.ndarray], *,
                    priority: Priority = Priority.NORMAL,
                    deadline: float | None = None) -> Inferred:
        self.ran.append(len(items))
        return Inferred([np.array([float(item.sum()), 0.0]) for item in items],
                        (ModelVersion("m", self.version),))


def crops(*values: float) -> list[np.ndarray]:
    return [np.full((3, 48, 192), v, np.float32) for v in values]


def test_only_unseen_inputs_run_and_outputs_stay_in_order() -> None:
    async def scenario() -> None:
        inference = CountingInference()
        pipeline = Pipeline(inference)  # type: ignore[arg-type]
        memo = OutputMemo()
        first = FrameMemo(memo)
        out = await pipeline._infer(CLS, crops(1, 2), Request(memo=first))
        assert inference.ran == [2] and first.reused == {}
        second = FrameMemo(memo)
        out = await pipeline._infer(CLS, crops(2, 3, 1), Request(memo=second))
        assert inference.ran == [2, 1] and second.reused == {"cls": 2}
        assert [o[0] for o in out.value] == [2 * 3 * 48 * 192, 3 * 3 * 48 * 192,
                                             1 * 3 * 48 * 192]
        assert out.models == (ModelUse("cls", "cls", "m", 1),)
        # No memo: everything runs.
        await pipeline._infer(CLS, crops(1), Request())
        assert inference.ran == [2, 1, 1]

    asyncio.run(scenario())


def test_outputs_of_another_model_version_are_not_remembered_under_this_one() -> None:
    async def scenario() -> None:
        inference = CountingInference()
        inference.version = 2  # a swap landed: the engine ran v2, the front-end named v1
        pipeline = Pipeline(inference)  # type: ignore[arg-type]
        memo = OutputMemo()
        await pipeline._infer(CLS, crops(1), Request(memo=FrameMemo(memo)))
        assert len(memo) == 0

    asyncio.run(scenario())


def test_the_memo_keeps_the_most_recently_used_entries() -> None:
    memo = OutputMemo(capacity=2)
    keys = FrameMemo(memo).keys("cls", "m", 1, crops(1, 2, 3))
    memo.put(keys[0], np.zeros(1))
    memo.put(keys[1], np.zeros(1))
    assert memo.get(keys[0]) is not None  # now the most recent
    memo.put(keys[2], np.zeros(1))
    assert memo.get(keys[1]) is None and memo.get(keys[0]) is not None
    assert input_digest(crops(1)[0]) != input_digest(crops(1)[0].astype(np.float64))
