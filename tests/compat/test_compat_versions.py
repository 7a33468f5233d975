"""This venv really is the client's floor, and the stubs import warning-free on both ends.

``pip check`` (``make compat``) proves the installed releases satisfy
client/pyproject.toml; the test here proves the converse, that each floor
declared there is exactly what is installed, so a floor cannot be lowered
without being tested.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STUB_IMPORTS = (
    "from ocrclient.proto.ocr.v1 import models_pb2, models_pb2_grpc, ocr_pb2, ocr_pb2_grpc\n"
    "from google.rpc import error_details_pb2, status_pb2\n"
    "from grpc_health.v1 import health_pb2, health_pb2_grpc\n"
    "import ocrclient, ocrclient.aio, ocrclient.cli\n"
    "import google.protobuf, grpc\n"
    "print(grpc.__version__, google.protobuf.__version__)\n"
)


def _release(version: str) -> tuple[int, ...]:
    """``1.62`` -> (1, 62, 0): plain release numbers, as the floors here are."""
    numbers = [int(part) for part in version.split(".")]
    return tuple(numbers + [0] * (3 - len(numbers)))


def _client_floors() -> dict[str, str]:
    project = tomllib.loads((REPO / "client" / "pyproject.toml").read_text())["project"]
    floors = {}
    for requirement in project["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9.]+)", requirement.strip())
        assert match, f"not a plain `name>=version` floor: {requirement!r}"
        floors[match[1].lower()] = match[2]
    return floors


@pytest.mark.parametrize("name", sorted(_client_floors()))
def test_installed_release_is_the_declared_floor(name: str) -> None:
    floor = _client_floors()[name]
    installed = metadata.version(name)
    assert _release(installed) == _release(floor), (
        f"{name}: client/pyproject.toml says >={floor}, tools/compat-requirements.txt "
        f"installs {installed}")


def test_only_the_client_is_installed() -> None:
    assert importlib.util.find_spec("ocrclient") is not None
    assert importlib.util.find_spec("ocrserve") is None


def _import_stubs(python: str) -> str:
    result = subprocess.run([python, "-W", "error", "-c", STUB_IMPORTS],
                            capture_output=True, text=True, timeout=120, cwd=REPO,
                            env={**os.environ, "PYTHONWARNINGS": "error"})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_stubs_import_without_warnings_here() -> None:
    grpc_version, protobuf_version = _import_stubs(sys.executable).split()
    assert (grpc_version, protobuf_version) == (metadata.version("grpcio"),
                                                metadata.version("protobuf"))


def test_stubs_import_without_warnings_in_the_main_venv(server_python: Path) -> None:
    """The same stubs under the newest releases (the main venv's)."""
    grpc_version, protobuf_version = _import_stubs(str(server_python)).split()
    assert _release(grpc_version) > _release(metadata.version("grpcio"))
    assert _release(protobuf_version) > _release(metadata.version("protobuf"))
