"""The Dockerfile as data, for tests that check what hadolint cannot and for the chart's
tests, which must load the server's settings with the environment the image sets."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[1] / "Dockerfile"


def stages() -> dict[str, str]:
    """Each named stage's text, split at its FROM line."""
    parts = re.split(r"^FROM\s+\S+\s+AS\s+(\S+)\s*$", DOCKERFILE.read_text(), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def stage_env(target: str) -> dict[str, str]:
    """The KEY=value pairs of the stage's ENV instructions (continuation lines joined)."""
    text = stages()[target].replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in re.findall(r"^ENV\s+(.*)$", text, flags=re.M):
        for word in shlex.split(line):
            key, _, value = word.partition("=")
            env[key] = value
    return env
