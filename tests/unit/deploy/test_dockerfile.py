"""What hadolint (make deploy-check) does not check: every final target runs as a
non-root user and has a HEALTHCHECK, and the GPU target installs the pinned GPU runtimes."""

from __future__ import annotations

import re

import pytest
from dockerfile import stages


@pytest.mark.parametrize("target", ["cpu", "gpu"])
def test_final_targets_run_as_non_root_with_a_healthcheck(target: str) -> None:
    text = stages()[target]
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    assert users, f"{target}: no USER"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n\s+CMD \[\"ocr-client\", \"health\"", text, flags=re.M)
    assert "org.opencontainers.image.version" in text


def test_gpu_target_pins_the_gpu_runtimes() -> None:
    text = stages()["gpu"]
    # onnx too: the torch backend converts the ONNX graphs itself.
    for package in ("torch", "onnx", "onnxruntime-gpu", "paddlepaddle-gpu"):
        assert re.search(rf'"{package}==[0-9][^"]*"', text), package
