"""Logging set-up shared by every process of the server.

Each line names its process and, inside a request, the request id
(:data:`ocrserve.context.request_id`), so one request can be followed from the
front-end into the engine with a single grep.
"""

from __future__ import annotations

import logging
import sys

from ocrserve.context import request_id

FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s [%(request_id)s]: %(message)s"


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id``: the id of the request being served, or "-"."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def configure_logging(level: str) -> None:
    """One stderr handler for the process, at ``level`` ("debug", "info", ...)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
