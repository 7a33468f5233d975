"""Write benchmark results into BENCHMARKS.md between generated markers.

Each command line owns one section, found by its marker, so re-running a
benchmark replaces its own figures and leaves the rest of the file (prose,
other sections) alone.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shlex
from pathlib import Path
from typing import Any


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPU cores ({cpu}), Python {platform.python_version()}"


#: Flags that change how results are printed, not what is measured: not part of a section.
OUTPUT_FLAGS = ("--json",)


def update_section(path: Path, doc: dict[str, Any], table: str) -> None:
    # The key hashes the plain join, as it always has, so sections written before the
    # command was shown shell-quoted are still found; the line shows it runnable as is.
    # A run with --json measures what the same run without it does: same section.
    argv = [arg for arg in doc["argv"] if arg not in OUTPUT_FLAGS]
    key = hashlib.sha1(" ".join(argv).encode()).hexdigest()[:8]
    begin, end = f"<!-- bench:{key} begin -->", f"<!-- bench:{key} end -->"
    section = "\n".join([
        begin,
        f"`{shlex.join(argv)}` — {doc['date']}, {doc['machine']}",
        "",
        table,
        end,
    ])
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
