"""What an engine's slots serve, kept across its restarts.

The supervisor restarts an engine that dies (kill -9, the OOM killer, a hang)
with the settings the server started with.  Slot changes made through the
ModelService since would be lost, and the new engine would silently serve the
configured models again: a different model behind the same slot name.  So an
engine writes its slot specs (Engine.slot_specs) to a file beside its socket
after every change, and its successor in the same supervisor run starts from
them.  The file lives in the supervisor's private folder, which a new server
run does not share: a fresh start always serves the configuration.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def remembered_path(socket_path: str) -> Path:
    return Path(socket_path + ".slots.json")


def remember(path: Path, specs: list[str]) -> None:
    """Write ``specs`` whole or not at all (a reader never sees half a file)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(specs))
    os.replace(partial, path)


def recall(path: Path) -> list[str] | None:
    """The specs remembered by a predecessor; None when there was none (or the file
    cannot be read, which is treated the same: start from the configuration)."""
    try:
        specs = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(specs, list) or not all(isinstance(s, str) for s in specs):
        return None
    return specs
