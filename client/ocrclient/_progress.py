"""A one-line progress bar for ``ocr-client`` on stderr: ``[#####     ] 12/40``.

Shown only on a terminal, and only for more than a few images: pipes, files
and tests never see it.  Output printed while it is shown goes through
:meth:`Progress.suspended`, which wipes the bar, lets the caller print, and
draws it again, so that lines never mix with it.  No dependency.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

#: Fewer images than this get no bar: they finish before it would help.
MIN_TOTAL = 5


def render_bar(done: int, total: int, failed: int = 0, width: int = 30) -> str:
    """``[######        ] 12/40 (1 failed)``: the text of the bar, without control characters."""
    filled = width * done // total if total > 0 else width
    bar = "#" * filled + " " * (width - filled)
    failures = f" ({failed} failed)" if failed else ""
    return f"[{bar}] {done}/{total}{failures}"


class Progress:
    """``update()`` as work finishes, print inside ``suspended()``, ``close()`` at the end.

    ``enabled``: None decides by itself (``stream`` is a terminal and ``total`` is at
    least :data:`MIN_TOTAL`); True or False forces it.
    """

    def __init__(self, total: int, stream: TextIO, *, enabled: bool | None = None) -> None:
        if enabled is None:
            enabled = total >= MIN_TOTAL and isatty(stream)
        self.enabled = enabled
        self.total = total
        self.stream = stream
        self.done = 0
        self.failed = 0
        self._shown = ""

    def update(self, done: int, failed: int = 0) -> None:
        self.done, self.failed = done, failed
        self._draw()

    @contextmanager
    def suspended(self) -> Iterator[None]:
        """Wipe the bar for the duration of the block (the caller prints), then redraw it."""
        self._wipe()
        try:
            yield
        finally:
            self._draw()

    def close(self) -> None:
        """Wipe the bar for good; later updates draw nothing."""
        self._wipe()
        self.enabled = False

    def _draw(self) -> None:
        if not self.enabled:
            return
        text = render_bar(self.done, self.total, self.failed)
        padding = " " * max(0, len(self._shown) - len(text))
        self.stream.write("\r" + text + padding)
        self.stream.flush()
        self._shown = text

    def _wipe(self) -> None:
        if self.enabled and self._shown:
            self.stream.write("\r" + " " * len(self._shown) + "\r")
            self.stream.flush()
        self._shown = ""


def isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
