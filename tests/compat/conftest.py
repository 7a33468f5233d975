"""The client on its oldest supported dependencies (``make test-compat``).

These tests run in ``.venv-compat`` (tools/compat-requirements.txt: grpcio,
protobuf, grpcio-health-checking and googleapis-common-protos at the client's
floors), where only ``ocrclient`` is installed: nothing here imports
``ocrserve``.  The real server runs as a subprocess of the main venv's python,
``$OCR_SERVER_PYTHON`` (the Makefile sets it), on a free loopback port.

The main venv's plain ``pytest`` (testpaths = tests) skips this directory:
where ocrserve is importable, this is not the client-only venv these tests are
about, and tests/integration covers the client there.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ocrclient import OcrClient

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 180.0

if importlib.util.find_spec("ocrserve") is not None:
    collect_ignore_glob = ["test_*.py"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _health(target: str) -> str:
    with grpc.insecure_channel(target) as channel:
        response = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=2)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))


@pytest.fixture(scope="session")
def server_python() -> Path:
    """The main venv's python, which has ocrserve (this venv has not)."""
    value = os.environ.get("OCR_SERVER_PYTHON")
    if not value or not Path(value).exists():
        pytest.fail(f"OCR_SERVER_PYTHON={value!r} is not a python with ocrserve: "
                    "run these tests with `make test-compat`")
    return Path(value)


@pytest.fixture(scope="session")
def server(server_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of a real single-process ocr-server; SIGTERM at the end."""
    models = os.environ.get("OCR_MODEL_REPOSITORY", str(REPO / "models"))
    port = _free_port()
    target = f"127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("server") / "ocr-server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(server_python), "-m", "ocrserve.cli", "--workers", "0",
             "--host", "127.0.0.1", "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
            env={**os.environ, "OCR_MODEL_REPOSITORY": models},
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"ocr-server exited with {proc.returncode}:\n"
                            f"{log_path.read_text(errors='replace')}")
            try:
                if _health(target) == "SERVING":
                    break
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"ocr-server not SERVING after {STARTUP_TIMEOUT:.0f}s:\n"
                            f"{log_path.read_text(errors='replace')}")
            time.sleep(0.2)
        yield target
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, log_path.read_text(errors="replace")


@pytest.fixture(scope="session")
def client(server: str) -> Iterator[OcrClient]:
    with OcrClient(server, timeout=60) as c:
        yield c
