"""The parent process: spawn engines and front-ends, keep them alive, drain.

    run():  check that nobody serves the port, spawn one engine per device,
            then N front-ends on one port (SO_REUSEPORT)
            loop { handle recorded signals; restart children that died }
            drain: SIGTERM front-ends (health NOT_SERVING, calls still taken
            for drain_delay_s, then in-flight RPCs finish within
            grace_period_s), then SIGTERM engines (queued batches finish),
            join, remove the socket folder, exit 0.

Children die with the supervisor (``ocrserve.parent``): a supervisor killed
with SIGKILL leaves no front-end serving its port.  An engine that stops
beating (``engine/heartbeat.py``) for ``engine_heartbeat_timeout_s`` is
killed and restarted like one that died.

Metrics: children record into files in ``<socket folder>/metrics``
(``metrics/exposition.py``); the supervisor serves their sum at /metrics
with the CPU and memory of every process by role.

The supervisor creates no gRPC or runtime objects: children are started with
the ``spawn`` method, so each builds its own from scratch (gRPC and Paddle do
not survive ``fork``).  Signal handlers only record the signal.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import Any

from ocrserve.engine.heartbeat import forget, heartbeat_path, silent_for
from ocrserve.engine.process import engine_main
from ocrserve.errors import OcrError
from ocrserve.frontend.process import frontend_main
from ocrserve.frontend.spread import LoadBoard, SiblingSockets
from ocrserve.metrics.exposition import ProcessTable, mark_dead, serve_metrics, use_folder
from ocrserve.settings import Settings

log = logging.getLogger(__name__)

#: Time the children get, beyond drain_delay_s + grace_period_s, to exit on SIGTERM before
#: they are killed.  The Helm chart's terminationGracePeriodSeconds adds 5 s on top of the
#: same two settings, so the supervisor finishes before the kubelet's SIGKILL.
STOP_MARGIN_S = 3.0
#: Of that margin, what is kept for the engines: once the front-ends are gone nothing is in
#: flight, and an idle engine exits on SIGTERM at once.
ENGINE_STOP_S = 2.0
#: A child that dies this soon after starting counts toward the crash-loop limit.
EARLY_DEATH_S = 10.0
MAX_EARLY_DEATHS = 5


@dataclass
class Child:
    name: str
    role: str  # "engine" or "frontend", for the metrics
    target: Any
    args: tuple[Any, ...]
    heartbeat: Path | None = None  # engines: the file they renew while alive
    process: BaseProcess | None = None
    started_at: float = 0.0
    early_deaths: int = 0


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host if host not in ("", "0.0.0.0") else "127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_port_free(host: str, port: int) -> None:
    """Fail unless ``host:port`` can be bound.

    The front-ends bind with SO_REUSEPORT, which would let them join a server
    already listening there (ours or another's, if it set the option too) and
    split its traffic.  A socket without SO_REUSEPORT cannot bind a port that
    anyone listens on; SO_REUSEADDR keeps connections of an earlier server,
    lingering in TIME_WAIT, from counting.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise OcrError(f"cannot serve on {host}:{port}: {exc.strerror or exc}; "
                           "is another server using it?") from None


class Supervisor:
    def __init__(self, settings: Settings) -> None:
        # Every front-end binds the same ports: a free one is chosen once, here.
        if settings.port == 0:
            settings = settings.replace(port=free_port(settings.host))
        if settings.admin_enabled and settings.admin_port == 0:
            settings = settings.replace(admin_port=free_port(settings.host))
        if settings.health_port == 0:
            settings = settings.replace(health_port=free_port(settings.host))
        self.settings = settings
        self._ctx = multiprocessing.get_context("spawn")
        self._socket_dir = Path(tempfile.mkdtemp(prefix="ocrserve-"))
        use_folder(self._socket_dir / "metrics")  # before any child starts
        self._processes = ProcessTable()
        self._processes.started(os.getpid(), "supervisor")
        self._signals: list[int] = []
        self._stopping = False
        sockets = [str(self._socket_dir / f"engine-{i}.sock")
                   for i, _ in enumerate(settings.device_list)]
        me = os.getpid()
        siblings = self._sibling_sockets()
        self.engines = [Child(f"engine-{device}", "engine", engine_main,
                              (settings, device, path, me), heartbeat_path(path))
                        for device, path in zip(settings.device_list, sockets, strict=True)]
        self.frontends = [Child(f"frontend-{i}", "frontend", frontend_main,
                                (settings, sockets, me, siblings(i)))
                          for i in range(settings.workers)]

    def _sibling_sockets(self) -> Callable[[int], SiblingSockets | None]:
        """Front-end ``i``'s view of its siblings, when calls are spread (spread.py)."""
        n = self.settings.workers
        if n < 2 or not self.settings.spread_requests:
            return lambda i: None
        board = self._socket_dir / "frontend-load"
        LoadBoard.create(board, n)
        sockets = tuple(str(self._socket_dir / f"frontend-{i}.sock") for i in range(n))
        return lambda i: SiblingSockets(i, sockets, str(board))

    # --------------------------------------------------------------- running

    def run(self) -> int:
        """Serve until a stop signal (exit 0) or a crash loop (exit 1)."""
        try:
            check_port_free(self.settings.host, self.settings.port)
            if self.settings.admin_enabled and self.settings.admin_port >= 0:
                check_port_free(self.settings.host, self.settings.admin_port)
            if self.settings.health_port >= 0:
                check_port_free(self.settings.host, self.settings.health_port)
            if self.settings.metrics_port >= 0:
                serve_metrics(self.settings.host, self.settings.metrics_port, self._processes)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(sig, self._record_signal)
            log.info("supervisor %d: %d engine(s) on %s, %d front-end(s) on %s:%d, "
                     "engine sockets in %s", os.getpid(), len(self.engines),
                     self.settings.devices, len(self.frontends), self.settings.host,
                     self.settings.port, self._socket_dir)
            for child in (*self.engines, *self.frontends):
                self._start(child)
            code = 0
            while not self._stopping:
                time.sleep(0.2)
                self._handle_signals()
                if not self._stopping and not self._keep_alive():
                    code = 1
                    self._stopping = True
            self._drain()
            return code
        finally:
            self._kill_leftovers()
            shutil.rmtree(self._socket_dir, ignore_errors=True)

    def _record_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals.append(signum)

    def _handle_signals(self) -> None:
        while self._signals:
            signum = self._signals.pop(0)
            log.info("received %s: draining", signal.Signals(signum).name)
            self._stopping = True

    def _start(self, child: Child) -> None:
        restart = child.process is not None
        if child.heartbeat is not None:
            forget(child.heartbeat)  # the new engine is judged by its own beats only
        process = self._ctx.Process(target=child.target, args=child.args, name=child.name,
                                    daemon=False)
        process.start()
        child.process, child.started_at = process, time.monotonic()
        assert process.pid is not None
        self._processes.started(process.pid, child.role, restart=restart)
        log.info("started %s (pid %s)", child.name, process.pid)

    def _keep_alive(self) -> bool:
        """Restart dead (or hung) children; False when one keeps dying right after start."""
        for child in (*self.engines, *self.frontends):
            process = child.process
            if process is not None and process.is_alive():
                self._kill_if_hung(child, process)
            if process is None or process.is_alive():
                continue
            assert process.pid is not None
            self._processes.exited(process.pid)
            mark_dead(process.pid)
            lived = time.monotonic() - child.started_at
            child.early_deaths = child.early_deaths + 1 if lived < EARLY_DEATH_S else 0
            if child.early_deaths >= MAX_EARLY_DEATHS:
                log.error("%s died %d times within %.0fs of starting; giving up", child.name,
                          child.early_deaths, EARLY_DEATH_S)
                return False
            log.warning("%s (pid %s) exited with %s after %.1fs; restarting", child.name,
                        process.pid, process.exitcode, lived)
            self._start(child)
        return True

    def _kill_if_hung(self, child: Child, process: BaseProcess) -> None:
        timeout = self.settings.engine_heartbeat_timeout_s
        if child.heartbeat is None or timeout <= 0:
            return
        silence = silent_for(child.heartbeat)
        if silence is not None and silence > timeout:
            log.error("%s (pid %s) has not beaten for %.1fs (engine_heartbeat_timeout_s=%g): "
                      "killing it", child.name, process.pid, silence, timeout)
            process.kill()
            process.join()

    # -------------------------------------------------------------- draining

    def _drain(self) -> None:
        """Front-ends first (they drain their calls), then the engines, all within one
        budget: drain_delay_s + grace_period_s + STOP_MARGIN_S from the SIGTERM."""
        deadline = (time.monotonic() + self.settings.drain_delay_s
                    + self.settings.grace_period_s + STOP_MARGIN_S)
        self._terminate(self.frontends, deadline - ENGINE_STOP_S)
        self._terminate(self.engines, deadline)
        log.info("supervisor stopped")

    def _kill_leftovers(self) -> None:
        """On any way out, no child survives (an exception, a failed start)."""
        for child in (*self.frontends, *self.engines):
            if child.process is not None and child.process.is_alive():
                child.process.kill()
                child.process.join()

    @staticmethod
    def _terminate(children: list[Child], deadline: float) -> None:
        """SIGTERM each child; kill those still alive at ``deadline`` (time.monotonic)."""
        alive = [c.process for c in children if c.process is not None and c.process.is_alive()]
        started = time.monotonic()
        for process in alive:
            os.kill(process.pid, signal.SIGTERM)  # type: ignore[arg-type]
        for process in alive:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("%s did not stop in %.0fs; killing it", process.name,
                            deadline - started)
                process.kill()
                process.join()
