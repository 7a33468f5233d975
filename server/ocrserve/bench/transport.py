"""Cost of moving tensors between a front-end and an engine process.

An engine process with no models serves the transport's ``echo`` op; the
front-end side sends the tensors the pipeline really sends (a det input and
its output map, a rec crop and its reduced output) and times round trips,
one at a time and with many in flight.  Reported per item, one way = half a
round trip.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

#: (name, shape, dtype) of what crosses the socket per item with the default models: the
#: detector gets the resized page, the recognizer the resized crop and its padding mark
#: (uint8; the engine normalises them, see engine/shapes.py).
PAYLOADS: list[tuple[str, tuple[int, ...], type[np.generic]]] = [
    ("det input 544x960x3 u8", (544, 960, 3), np.uint8),
    ("det output 544x960 f32", (544, 960), np.float32),
    ("rec input 32x320x4 u8", (32, 320, 4), np.uint8),
    ("rec output 80x2 f32", (80, 2), np.float32),
]


def _serve_echo(path: str) -> None:
    from ocrserve.engine.engine import Engine
    from ocrserve.engine.transport import EngineServer

    async def serve() -> None:
        server = EngineServer(Engine([]), path)
        await server.start()
        await asyncio.Event().wait()

    asyncio.run(serve())


async def _measure(path: str, rounds: int, in_flight: int) -> list[dict[str, Any]]:
    from ocrserve.engine.transport import EngineClient

    client = EngineClient(path, connect_timeout_s=30)
    await client.start()
    rows = []
    for name, shape, dtype in PAYLOADS:
        tensor = (np.random.default_rng(0).random(shape, np.float32) * 255).astype(dtype)
        await client.echo([tensor])
        started = time.perf_counter()
        for _ in range(rounds):
            await client.echo([tensor])
        sequential = (time.perf_counter() - started) / rounds
        started = time.perf_counter()
        await asyncio.gather(*(client.echo([tensor]) for _ in range(rounds)))
        concurrent = (time.perf_counter() - started) / rounds
        rows.append({"payload": name, "bytes": tensor.nbytes,
                     "round_trip_ms": round(sequential * 1000, 3),
                     "per_item_ms_in_flight": round(concurrent * 1000, 3),
                     "in_flight": in_flight})
    await client.close()
    return rows


def measure_transport(rounds: int = 50) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "echo.sock")
        process = multiprocessing.get_context("spawn").Process(target=_serve_echo, args=(path,),
                                                               daemon=True)
        process.start()
        try:
            return asyncio.run(_measure(path, rounds, rounds))
        finally:
            process.kill()
            process.join()
