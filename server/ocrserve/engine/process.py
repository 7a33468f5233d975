"""Entry point of an engine process: load the device's slots, serve them over a socket."""

from __future__ import annotations

import asyncio
import logging
import signal

from ocrserve.logs import configure_logging
from ocrserve.settings import Settings

log = logging.getLogger(__name__)


async def serve_engine(settings: Settings, device: str, socket_path: str) -> None:
    from ocrserve.engine.engine import Engine
    from ocrserve.engine.transport import EngineServer

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    engine = Engine.from_settings(settings, device)
    await engine.start()
    # Again: loading a runtime (Paddle) may have replaced both handlers.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    server = EngineServer(engine, socket_path)
    await server.start()
    log.info("engine on %s serving %s at %s", device, ", ".join(engine.slots()), socket_path)
    await stop.wait()
    # Front-ends have drained by now (the supervisor stops them first); finish
    # anything still queued, then release the models.
    await server.close()
    await engine.close()
    log.info("engine on %s stopped", device)


def engine_main(settings: Settings, device: str, socket_path: str) -> None:
    """Process target.  SIGINT is ignored: the supervisor orders the shutdown."""

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging(settings.log_level)
    asyncio.run(serve_engine(settings, device, socket_path))
