"""Run the real ``ocr-server`` as a subprocess on a free loopback port (tests, benchmarks)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ocrserve.supervisor.multiprocess import free_port


class ServerProcess:
    """``with ServerProcess([...flags]) as server: server.target``; stops with SIGTERM.

    The server runs in ``cwd``, by default the caller's working directory, so relative paths
    in its flags and environment (the default ``./models`` repository) mean what they mean
    to the caller: nothing here assumes a source checkout.
    """

    def __init__(self, args: Sequence[str] = (), *, env: dict[str, str] | None = None,
                 cwd: str | PathLike[str] | None = None, startup_timeout: float = 180.0,
                 health_port: bool = False) -> None:
        self.port = free_port("127.0.0.1")
        self.target = f"127.0.0.1:{self.port}"
        self.metrics_port = free_port("127.0.0.1")
        #: Prometheus endpoint (unless ``args`` turn metrics off or move them).
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        self.args = ["--host", "127.0.0.1", "--port", str(self.port),
                     "--metrics-port", str(self.metrics_port), *args]
        #: Where health is asked: the OCR port, or with ``health_port`` (a server whose
        #: OCR port speaks TLS) a plaintext health_port of its own.
        self.health_target = self.target
        if health_port:
            self.health_target = f"127.0.0.1:{free_port('127.0.0.1')}"
            self.args += ["--health-port", self.health_target.rsplit(":", 1)[1]]
        self.env = {**os.environ, **(env or {})}
        self.cwd = Path(cwd) if cwd is not None else Path.cwd()
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        import tempfile

        fd, name = tempfile.mkstemp(prefix="ocr-server-", suffix=".log")
        self.log_path = Path(name)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ocrserve.cli", *self.args],
            stdout=fd, stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd,
        )
        os.close(fd)
        self.wait_serving()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def child_pids(self) -> dict[str, int]:
        """Latest pid of each child, from the supervisor's 'started NAME (pid N)' lines."""
        return {name: int(pid) for name, pid in
                re.findall(r"started (\S+) \(pid (\d+)\)", self.log())}

    def health(self, timeout: float = 2.0) -> str:
        with grpc.insecure_channel(self.health_target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            response = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
            return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

    def wait_serving(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if self.health() == "SERVING":
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"server not serving after {self.startup_timeout}s:\n{self.log()}")

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode
