"""Children never outlive the supervisor.

Each child asks the kernel to send it SIGTERM when its parent dies
(``PR_SET_PDEATHSIG``, Linux), so a supervisor killed with SIGKILL does not
leave front-ends serving its port or engines holding models; SIGTERM makes them
drain as usual.  Where prctl is not available, a thread polls the parent pid
instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import threading
import time

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
#: How often the fallback thread looks for its parent.
POLL_S = 0.5


def exit_with_parent(parent_pid: int) -> None:
    """Get SIGTERM once the process ``parent_pid`` (this one's parent) is gone."""
    if not _set_pdeathsig(signal.SIGTERM):
        threading.Thread(target=_watch, args=(parent_pid,), name="parent-watch",
                         daemon=True).start()
    if os.getppid() != parent_pid:  # it died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def parent_alive(parent_pid: int) -> bool:
    return os.getppid() == parent_pid


def _set_pdeathsig(signum: int) -> bool:
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent_pid: int) -> None:
    while parent_alive(parent_pid):
        time.sleep(POLL_S)
    log.warning("the supervisor (pid %d) is gone: stopping", parent_pid)
    os.kill(os.getpid(), signal.SIGTERM)
