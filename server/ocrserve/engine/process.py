"""Entry point of an engine process: load the device's slots, serve them over a socket."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import shutil
import signal
from pathlib import Path
from typing import TYPE_CHECKING

from ocrserve.engine.heartbeat import beat, heartbeat_path
from ocrserve.engine.remembered_slots import recall, remember, remembered_path
from ocrserve.errors import OcrError
from ocrserve.logs import configure_logging
from ocrserve.memory import IdleTrim, limit_arenas
from ocrserve.parent import exit_with_parent, parent_alive
from ocrserve.settings import Settings

if TYPE_CHECKING:
    from ocrserve.engine.engine import Engine

log = logging.getLogger(__name__)


async def serve_engine(settings: Settings, device: str, socket_path: str) -> None:
    """Load the device's slots, serve them until SIGTERM, then drain.

    The drain gives requests in flight ``grace_period_s``: by then the front-ends,
    stopped first, have finished theirs.
    """
    from ocrserve.engine.transport import EngineServer

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    # Beating while the models load too: a long load is not a hang.
    beating = asyncio.get_running_loop().create_task(beat(heartbeat_path(socket_path)))
    engine = await _started_engine(settings, device, remembered_path(socket_path))
    # Again: loading a runtime (Paddle) may have replaced both handlers.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    background: set[asyncio.Task[None]] = set()

    def release() -> None:
        task = asyncio.get_running_loop().create_task(engine.release_memory())
        background.add(task)  # keep a reference until it is done
        task.add_done_callback(background.discard)

    trim = IdleTrim(release=release)
    server = EngineServer(engine, socket_path, on_idle=trim.idle, on_busy=trim.busy)
    await server.start()
    log.info("engine on %s serving %s at %s", device, ", ".join(engine.slots()), socket_path)
    await stop.wait()
    # Front-ends have drained by now (the supervisor stops them first); finish
    # anything still queued, then release the models.
    await server.close(grace_s=settings.grace_period_s)
    await engine.close()
    beating.cancel()
    log.info("engine on %s stopped", device)


async def _started_engine(settings: Settings, device: str, remembered: Path) -> Engine:
    """The device's engine, started with the slots a predecessor of this supervisor run
    served (remembered_slots.py) or else the configured ones; kept up to date."""
    from ocrserve.engine.engine import Engine

    specs = recall(remembered)
    engine = None
    if specs is not None:
        try:
            engine = Engine.from_settings(dataclasses.replace(settings, slot=tuple(specs)),
                                          device)
            await engine.start()
            log.info("engine on %s restarted with the slots its predecessor served: %s",
                     device, ", ".join(specs))
        except OcrError as exc:  # e.g. a version removed since: never a crash loop
            log.warning("engine on %s: the slots its predecessor served do not load (%s); "
                        "starting with the configured ones", device, exc.message)
            if engine is not None:
                await engine.close()
            engine = None
    if engine is None:
        engine = Engine.from_settings(settings, device)
        await engine.start()
    started = engine

    def keep(_: int) -> None:
        remember(remembered, started.slot_specs())

    keep(0)
    engine.add_slots_listener(keep)
    return engine


def engine_main(settings: Settings, device: str, socket_path: str, parent_pid: int) -> None:
    """Process target.  SIGINT is ignored: the supervisor orders the shutdown.

    The engine dies with the supervisor (``ocrserve.parent``); the last thing it
    does then is remove the supervisor's socket folder, which nobody else will.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    limit_arenas()
    exit_with_parent(parent_pid)
    configure_logging(settings.log_level, settings.log_format)
    try:
        asyncio.run(serve_engine(settings, device, socket_path))
    finally:
        if not parent_alive(parent_pid):
            # Everything in it belongs to the dead supervisor; other engines dying with
            # it may be removing it too.
            shutil.rmtree(os.path.dirname(socket_path), ignore_errors=True)
