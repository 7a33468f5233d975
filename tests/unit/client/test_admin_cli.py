"""ocr-admin's parsing: model specs and flags on either side of the command."""

from __future__ import annotations

import pytest

from ocrclient import InvalidArgument
from ocrclient.admin import model_spec
from ocrclient.admin_cli import build_parser, main


def test_model_specs() -> None:
    spec = model_spec("ch_PP-OCRv2_rec@2@onnx")
    assert (spec.name, spec.version, spec.format) == ("ch_PP-OCRv2_rec", 2, "onnx")
    assert model_spec("cls@paddle").format == "paddle" and model_spec("cls").version == 0
    for bad in ("@1", "a@b", "a@1@2", "a@onnx@paddle", "a@99999999999"):
        with pytest.raises(InvalidArgument):
            model_spec(bad)


@pytest.mark.parametrize("argv", [
    ["--json", "--token", "t", "swap", "rec", "m@2", "--expect-version", "1"],
    ["swap", "rec", "m@2", "--json", "--expect-version", "1", "--token", "t"],
    ["swap", "--token", "t", "rec", "m@2", "--expect-version", "1", "--json"],
])
def test_flags_go_before_or_after_the_command(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.command, args.slot, args.model, args.expect_version) == ("swap", "rec",
                                                                           "m@2", 1)
    assert args.json and args.token == "t"


def test_defaults_survive_the_command() -> None:
    args = build_parser().parse_args(["--server", "h:1", "slots"])
    assert args.server == "h:1" and args.timeout == 600.0 and not args.json


@pytest.mark.parametrize("argv", [
    ["swap", "rec", "m", "--expect-version", "-1"],
    ["unload", "rec", "--expect-version", "4294967296"],
    ["--timeout", "nan", "slots"],
    ["slots", "--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem"],
])
def test_bad_values_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err
