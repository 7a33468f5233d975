"""Logging through the real handler configure_logging installs, text and JSON."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ocrserve.context import request_id
from ocrserve.logs import (
    SETTINGS_LOGGER,
    configure_logging,
    effective_settings,
    log_effective_settings,
)
from ocrserve.settings import Settings

JSON_KEYS = {"time", "level", "process", "pid", "logger", "request_id", "message"}
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    """configure_logging replaces the root handlers: put back what other tests expect."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


@pytest.fixture
def in_request() -> Iterator[str]:
    """Log as if serving request "req-42"."""
    token = request_id.set("req-42")
    yield "req-42"
    request_id.reset(token)


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.splitlines()


def _json_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in _lines(capsys)]


def test_text_format_names_level_logger_and_request(
        capsys: pytest.CaptureFixture[str], in_request: str) -> None:
    configure_logging("info")
    logging.getLogger("ocrserve.test").info("hello %s", "world")
    (line,) = _lines(capsys)
    assert re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} ", line)
    assert line.endswith(" INFO MainProcess ocrserve.test [req-42]: hello world")


def test_text_format_outside_a_request_shows_dash(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "text")
    logging.getLogger("ocrserve.test").warning("start-up")
    (line,) = _lines(capsys)
    assert "WARNING MainProcess ocrserve.test [-]: start-up" in line


def test_level_filters(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("warning", "json")
    log = logging.getLogger("ocrserve.test")
    log.info("dropped")
    log.warning("kept")
    assert [entry["message"] for entry in _json_lines(capsys)] == ["kept"]


def test_json_line_carries_every_key(capsys: pytest.CaptureFixture[str], in_request: str) -> None:
    configure_logging("debug", "json")
    logging.getLogger("ocrserve.test").debug("took %d ms", 12)
    (entry,) = _json_lines(capsys)
    assert set(entry) == JSON_KEYS
    assert entry["level"] == "DEBUG"
    assert entry["logger"] == "ocrserve.test"
    assert entry["request_id"] == "req-42"
    assert entry["message"] == "took 12 ms"
    assert entry["process"] == "MainProcess"
    assert isinstance(entry["pid"], int)
    assert TIME.match(entry["time"]), entry["time"]


def test_json_outside_a_request_shows_dash(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    logging.getLogger("ocrserve.test").info("start-up")
    (entry,) = _json_lines(capsys)
    assert entry["request_id"] == "-"


def test_json_exception_carries_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    try:
        raise RuntimeError("engine fell over")
    except RuntimeError:
        logging.getLogger("ocrserve.test").exception("call failed")
    (entry,) = _json_lines(capsys)
    assert entry["message"] == "call failed"
    assert entry["level"] == "ERROR"
    assert "Traceback (most recent call last)" in entry["exception"]
    assert "RuntimeError: engine fell over" in entry["exception"]


def test_json_keeps_non_ascii_readable(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    logging.getLogger("ocrserve.test").info("识别结果: %s", "中文文本")
    (line,) = _lines(capsys)
    assert "识别结果: 中文文本" in line
    assert "\\u" not in line
    assert json.loads(line)["message"] == "识别结果: 中文文本"


def test_json_multiline_message_stays_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    logging.getLogger("ocrserve.test").info("first\nsecond")
    (entry,) = _json_lines(capsys)
    assert entry["message"] == "first\nsecond"


def test_unknown_format_is_refused_and_logging_left_alone() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    with pytest.raises(ValueError, match="xml"):
        configure_logging("info", "xml")
    assert root.handlers == before


def _field_names() -> set[str]:
    return {f.name for f in dataclasses.fields(Settings)}


def _settings_line(
        capsys: pytest.CaptureFixture[str], settings: Settings) -> tuple[str, dict[str, Any]]:
    """The one line log_effective_settings writes, and the settings it shows."""
    configure_logging("info")
    log_effective_settings(settings)
    (line,) = _lines(capsys)
    prefix = f"INFO MainProcess {SETTINGS_LOGGER} [-]: effective settings: "
    assert prefix in line
    return line, json.loads(line.split(prefix, 1)[1])


def test_effective_settings_mask_the_token(capsys: pytest.CaptureFixture[str]) -> None:
    line, shown = _settings_line(capsys, Settings(admin_token="s3cret"))
    assert "s3cret" not in line
    assert shown["admin_token"] == "***"
    assert '"max_message_mb": 64' in line
    assert shown["max_message_mb"] == 64
    assert shown["slot"] == list(Settings().slot)
    assert set(shown) == _field_names()


def test_effective_settings_show_an_empty_token_as_empty(
        capsys: pytest.CaptureFixture[str]) -> None:
    _, shown = _settings_line(capsys, Settings(admin_token=""))
    assert shown["admin_token"] == ""


def test_effective_settings_in_json_format(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    log_effective_settings(Settings(admin_token="s3cret", pull_allowed_hosts=("a.example",)))
    (line,) = _lines(capsys)
    assert "s3cret" not in line
    entry = json.loads(line)
    assert entry["logger"] == SETTINGS_LOGGER
    prefix = "effective settings: "
    assert entry["message"].startswith(prefix)
    shown = json.loads(entry["message"][len(prefix):])
    assert shown["admin_token"] == "***"
    assert shown["pull_allowed_hosts"] == ["a.example"]


def test_effective_settings_values_are_json_friendly() -> None:
    # A Path where a str is declared: whatever reaches Settings, the log line stays JSON.
    shown = effective_settings(Settings().replace(model_repository=Path("/srv/models")))
    assert shown["model_repository"] == "/srv/models"
    assert shown["det_buckets"] == []
    json.dumps(shown)


def test_credentials_are_secret_settings_kept_out_of_repr() -> None:
    """Every token, password or key option is declared secret, so neither the log line
    nor a repr (tracebacks, %r) can show it."""
    secret = {f.name for f in dataclasses.fields(Settings) if f.metadata["secret"]}
    credential = {name for name in _field_names()
                  if any(word in name for word in ("token", "password", "secret"))}
    assert secret == credential == {"admin_token", "inference_token"}
    settings = Settings().replace(admin_token="adm-123", inference_token="inf-456")
    assert "adm-123" not in repr(settings) and "inf-456" not in repr(settings)
    shown = effective_settings(settings)
    assert (shown["admin_token"], shown["inference_token"]) == ("***", "***")
