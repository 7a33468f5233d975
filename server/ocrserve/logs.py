"""Logging set-up shared by every process of the server.

Each line names its process and, inside a request, the request id
(:data:`ocrserve.context.request_id`), so one request can be followed from the
front-end into the engine with a single grep.  ``log_format="json"`` writes the
same facts as one JSON object per line, for log collectors that would
otherwise have to parse the text format back.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from ocrserve.context import request_id

if TYPE_CHECKING:  # only for the annotation: keeps this module free of the settings' imports
    from ocrserve.settings import Settings

FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s [%(request_id)s]: %(message)s"

#: What a secret setting shows when it is set (an empty one shows "", so the
#: log still tells "no token" from "a token").
MASK = "***"

SETTINGS_LOGGER = "ocrserve.settings"


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id``: the id of the request being served, or "-"."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line, with the text format's facts as keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _utc_timestamp(record.created),
            "level": record.levelname,
            "process": record.processName,
            "pid": record.process,
            "logger": record.name,
            # Set by RequestIdFilter; the fallback covers a handler without it.
            "request_id": getattr(record, "request_id", request_id.get()),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # ensure_ascii=False: recognised text (Chinese, ...) stays readable in the logs.
        return json.dumps(entry, ensure_ascii=False, default=str)


def _utc_timestamp(created: float) -> str:
    """ISO 8601 in UTC with milliseconds and a "Z", e.g. 2026-12-02T05:40:01.123Z."""
    moment = datetime.fromtimestamp(created, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text_formatter() -> logging.Formatter:
    return logging.Formatter(FORMAT)


#: log_format -> how its formatter is made.
_FORMATTERS: dict[str, Callable[[], logging.Formatter]] = {
    "text": _text_formatter,
    "json": JsonFormatter,
}


def _formatter(log_format: str) -> logging.Formatter:
    """The formatter for ``log_format``; ValueError for a format we do not write."""
    try:
        factory = _FORMATTERS[log_format]
    except KeyError:
        known = ", ".join(sorted(_FORMATTERS))
        raise ValueError(f"unknown log format {log_format!r} (expected one of: {known})") from None
    return factory()


def configure_logging(level: str, log_format: str = "text") -> None:
    """One stderr handler for the process, at ``level`` ("debug", "info", ...).

    ``log_format`` is "text" (for people) or "json" (one object per line, for
    collectors).  It is checked before the old handlers go, so a bad value
    leaves the logging as it was.
    """
    formatter = _formatter(log_format)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


def _loggable(value: Any) -> Any:
    """A JSON-friendly form of a settings value: tuples as lists, paths as str."""
    if isinstance(value, tuple | list):
        return [_loggable(item) for item in value]
    if isinstance(value, PurePath):
        return str(value)
    return value


def _shown_value(setting: dataclasses.Field[Any], value: Any) -> Any:
    """What the log shows for one setting: secrets (settings.py declares which) masked,
    everything else as is."""
    if setting.metadata.get("secret"):
        return MASK if value else ""
    return _loggable(value)


def effective_settings(settings: Settings) -> dict[str, Any]:
    """Every Settings field name -> the value to log, secrets masked."""
    return {f.name: _shown_value(f, getattr(settings, f.name))
            for f in dataclasses.fields(settings)}


def log_effective_settings(settings: Settings) -> None:
    """Log the configuration in force, once, as one INFO line.

    Defaults, the config file, the environment and flags all feed
    :class:`Settings`, so the one sure answer to "what did this server run
    with?" is the result, written at start-up.  Credentials are masked.
    """
    shown = json.dumps(effective_settings(settings), ensure_ascii=False, default=str)
    logging.getLogger(SETTINGS_LOGGER).info("effective settings: %s", shown)
