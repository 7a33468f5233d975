"""An engine's sign of life: a file whose modification time it renews every second.

A process can be alive and still useless: stopped (SIGSTOP, a debugger), or
with its event loop stuck.  Its socket stays open, so nothing else would
notice.  The engine's event loop touches ``<socket>.alive`` every
:data:`INTERVAL_S`; the supervisor kills and restarts an engine whose file is
older than ``engine_heartbeat_timeout_s``, and the front-ends report
NOT_SERVING meanwhile.  A file, not a message: both readers only need a
``stat``, and it works the same whatever the engine is doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

INTERVAL_S = 1.0


def heartbeat_path(socket_path: str) -> Path:
    return Path(socket_path + ".alive")


async def beat(path: Path, interval_s: float = INTERVAL_S) -> None:
    """Renew ``path`` forever (run as a task on the engine's event loop)."""
    while True:
        path.touch()
        await asyncio.sleep(interval_s)


def silent_for(path: Path) -> float | None:
    """Seconds since the last beat; None before the first one (or once it is removed)."""
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None


def forget(path: Path) -> None:
    """Remove the file of an engine that is gone, so its successor starts afresh."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
