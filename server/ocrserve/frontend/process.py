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
from typing import Protocol

from ocrserve.context import request_id
from ocrserve.engine.protocol import Inference
from ocrserve.frontend.fair_executor import FairExecutor
from ocrserve.frontend.server import create_server
from ocrserve.frontend.spread import LoadBoard, SiblingSockets, Spreader
from ocrserve.logs import configure_logging
from ocrserve.memory import FRONTEND_MMAP_THRESHOLD, limit_arenas
from ocrserve.parent import exit_with_parent
from ocrserve.settings import Settings

log = logging.getLogger(__name__)

#: Logged once the port is bound (readiness itself is the health service's SERVING).
READY_MESSAGE = "ocr-server listening on {host}:{port}"
ADMIN_MESSAGE = "ModelService listening on {host}:{port}"
HEALTH_MESSAGE = "grpc.health.v1 (plaintext, health_port) listening on {host}:{port}"


class ClosableInference(Inference, Protocol):
    async def start(self) -> None: ...

    def ready(self) -> bool: ...

    async def close(self) -> None: ...


class StopSignal:
    """The first stop signal received, waited for as an event."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._event = asyncio.Event()

    def __call__(self, signum: int) -> None:
        if self.received is None:
            self.received = signum
        self._event.set()

    async def wait(self) -> None:
        await self._event.wait()

    def is_set(self) -> bool:
        return self._event.is_set()


async def serve(settings: Settings, inference: ClosableInference, *, reuse_port: bool = False,
                stop_signals: Sequence[int] = (signal.SIGTERM, signal.SIGINT),
                spreader: Spreader | None = None) -> None:
    """Start ``inference``, serve gRPC, and on a stop signal drain and return.

    The drain: health NOT_SERVING at once; on SIGTERM calls are still accepted for
    ``drain_delay_s`` (so load balancers that poll health stop routing here first;
    SIGINT, an operator at a terminal, skips the delay); then new calls are refused
    and those in flight get ``grace_period_s`` to finish.
    """
    stop = StopSignal()
    loop = asyncio.get_running_loop()
    for sig in stop_signals:
        loop.add_signal_handler(sig, stop, sig)
    # Decoding and pre/post-processing threads (OpenCV releases the GIL), shared
    # between requests round robin.
    executor = FairExecutor(max(2, settings.cpu_threads), request_id.get, name="frontend")
    try:
        if not await _start_unless_stopped(inference, stop):
            return
        for sig in stop_signals:  # again: loading a runtime (Paddle) may have replaced them
            loop.add_signal_handler(sig, stop, sig)
        server = create_server(settings, inference, executor, inference.ready,
                               reuse_port=reuse_port, spreader=spreader)
        await server.start()
        log.info(READY_MESSAGE.format(host=settings.host, port=server.port))
        if server.admin_port is not None:
            log.info(ADMIN_MESSAGE.format(host=settings.host, port=server.admin_port))
        if server.health_port is not None:
            log.info(HEALTH_MESSAGE.format(host=settings.host, port=server.health_port))
        await stop.wait()
        await server.begin_drain()
        if stop.received == signal.SIGTERM and settings.drain_delay_s > 0:
            log.info("draining: NOT_SERVING, still accepting calls for %.1fs",
                     settings.drain_delay_s)
            await asyncio.sleep(settings.drain_delay_s)
        log.info("draining: refusing new calls; up to %.1fs for those in flight",
                 settings.grace_period_s)
        await server.stop(settings.grace_period_s)
    finally:
        await inference.close()
        if spreader is not None:
            await spreader.close()
        executor.shutdown(wait=False, cancel_futures=True)
        for sig in stop_signals:
            loop.remove_signal_handler(sig)
    log.info("stopped")


async def _start_unless_stopped(inference: ClosableInference, stop: StopSignal) -> bool:
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


def single_threaded_opencv() -> None:
    """Run OpenCV's functions on the calling thread only.

    A front-end already works in parallel: several processes, each with its executor
    threads.  OpenCV's own pool split a resize or warp over more threads that then spin
    (sched_yield) waiting for work, ~8 % of a front-end's CPU under load.  Each output
    pixel is computed alike whichever thread computes it, so results do not change.
    """
    import cv2  # here, so importing this module does not load OpenCV

    cv2.setNumThreads(1)


def frontend_main(settings: Settings, engine_sockets: Sequence[str], parent_pid: int,
                  siblings: SiblingSockets | None = None) -> None:
    """Entry point of a front-end process (spawned by the supervisor); with ``siblings``
    it spreads calls across the front-ends (spread.py).

    It dies with the supervisor (see ``ocrserve.parent``).  SIGINT (a Ctrl-C reaches
    the whole process group) drains it without the drain delay; engines ignore
    SIGINT and are stopped by the supervisor once the front-ends are done.
    """
    from ocrserve.engine.router import EngineRouter
    from ocrserve.engine.transport import EngineClient

    limit_arenas(mmap_threshold=FRONTEND_MMAP_THRESHOLD)
    single_threaded_opencv()
    exit_with_parent(parent_pid)
    configure_logging(settings.log_level, settings.log_format)
    router = EngineRouter([EngineClient(path, restart_wait_s=settings.engine_restart_wait_s,
                                        heartbeat_timeout_s=settings.engine_heartbeat_timeout_s)
                           for path in engine_sockets])
    spreader = None
    if siblings is not None:
        spreader = Spreader(siblings.index, siblings.sockets,
                            LoadBoard(siblings.board, len(siblings.sockets)),
                            settings.max_message_mb * 1024 * 1024)
        spreader.publish(0)  # a restarted front-end holds nothing
    asyncio.run(serve(settings, router, reuse_port=True, spreader=spreader))
