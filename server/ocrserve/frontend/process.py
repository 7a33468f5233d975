"""One front-end's lifecycle: serve until told to stop, then drain.

The same function runs the single-process server (``inference`` is an
in-process :class:`~ocrserve.engine.engine.Engine`) and each front-end
process of the multi-process server (``inference`` is an
:class:`~ocrserve.engine.transport.EngineClient`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from ocrserve.engine.protocol import Inference
from ocrserve.frontend.server import create_server
from ocrserve.logs import configure_logging
from ocrserve.settings import Settings

log = logging.getLogger(__name__)

#: Logged once the port is bound (readiness itself is the health service's SERVING).
READY_MESSAGE = "ocr-server listening on {host}:{port}"


class ClosableInference(Inference, Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...


async def serve(settings: Settings, inference: ClosableInference,
                stop_signals: Sequence[int] = (signal.SIGTERM, signal.SIGINT)) -> None:
    """Start ``inference``, serve gRPC, and on a stop signal drain and return."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in stop_signals:
        loop.add_signal_handler(sig, stop.set)
    # Decoding and pre/post-processing threads; OpenCV releases the GIL.
    executor = ThreadPoolExecutor(max(2, settings.cpu_threads), thread_name_prefix="frontend")
    try:
        if not await _start_unless_stopped(inference, stop):
            return
        for sig in stop_signals:  # again: loading a runtime (Paddle) may have replaced them
            loop.add_signal_handler(sig, stop.set)
        server = create_server(settings, inference, executor)
        await server.start()
        log.info(READY_MESSAGE.format(host=settings.host, port=server.port))
        await stop.wait()
        log.info("draining: up to %.1fs for in-flight requests", settings.grace_period_s)
        await server.stop(settings.grace_period_s)
    finally:
        await inference.close()
        executor.shutdown(wait=False, cancel_futures=True)
        for sig in stop_signals:
            loop.remove_signal_handler(sig)
    log.info("stopped")


async def _start_unless_stopped(inference: ClosableInference, stop: asyncio.Event) -> bool:
    """Start ``inference`` (a front-end waits here for its engine); False if stopped first."""
    starting = asyncio.ensure_future(inference.start())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not starting.done():
        starting.cancel()
        return False
    starting.result()  # raises what start() raised
    return True


def frontend_main(settings: Settings, engine_sockets: Sequence[str]) -> None:
    """Entry point of a front-end process (spawned by the supervisor).

    SIGINT is ignored: a Ctrl-C reaches the whole process group, and the
    supervisor decides the order of shutdown (front-ends first, then engines).
    """
    from ocrserve.engine.router import EngineRouter
    from ocrserve.engine.transport import EngineClient

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging(settings.log_level)
    router = EngineRouter([EngineClient(path) for path in engine_sockets])
    asyncio.run(serve(settings, router, stop_signals=(signal.SIGTERM,)))
