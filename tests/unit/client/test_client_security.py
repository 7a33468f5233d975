"""The clients' security options: PEM from paths or bytes, when TLS is on, the token's
metadata, and the CLI flags (after the verb, from the environment).  Real TLS
connections: tests/integration/test_security.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocrclient import admin_cli
from ocrclient._security import Security, read_pem, security_of
from ocrclient.cli import parse_args


def test_pem_comes_from_bytes_or_a_path(tmp_path: Path) -> None:
    pem = tmp_path / "ca.pem"
    pem.write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    assert read_pem(pem) == read_pem(str(pem)) == b"-----BEGIN CERTIFICATE-----\n"
    assert read_pem(b"raw") == b"raw" and read_pem(None) is None


def test_tls_is_on_with_any_certificate_or_a_server_name() -> None:
    assert not Security().tls and not Security(token="t").tls
    assert Security(root_certificates=b"ca").tls and Security(server_name="ocr.test").tls
    assert Security(certificate_chain=b"c", private_key=b"k").tls


def test_repr_shows_neither_the_token_nor_the_private_key() -> None:
    shown = repr(Security(certificate_chain=b"CHAIN", private_key=b"KEY-BYTES",
                          server_name="ocr.test", token="t0k-secret"))
    assert "t0k-secret" not in shown and "KEY-BYTES" not in shown
    assert "ocr.test" in shown and "CHAIN" in shown


def test_the_token_becomes_bearer_metadata() -> None:
    assert Security(token="t0k").metadata == (("authorization", "Bearer t0k"),)
    assert Security().metadata == ()


def test_half_a_client_identity_is_refused() -> None:
    with pytest.raises(ValueError, match="go together"):
        Security(certificate_chain=b"c")


def test_ocr_client_flags_go_after_the_verb(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("ca.pem", "c.pem", "k.pem"):
        (tmp_path / name).write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    args = parse_args(["ocr", "a.png", "--tls-ca", "ca.pem", "--tls-cert", "c.pem",
                       "--tls-key", "k.pem", "--server-name", "ocr.test", "--token", "t"])
    assert security_of(args) == Security("ca.pem", "c.pem", "k.pem", "ocr.test", "t")
    assert security_of(parse_args(["--token", "early", "info"])).token == "early"


def test_half_a_client_identity_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as usage:
        parse_args(["info", "--tls-key", "k.pem"])
    assert usage.value.code == 2 and "--tls-cert" in capsys.readouterr().err


def test_tokens_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCR_TOKEN", "from-ocr-token")
    assert parse_args(["info"]).token == "from-ocr-token"
    assert admin_cli.build_parser().parse_args(["slots"]).token == "from-ocr-token"
    monkeypatch.setenv("OCR_ADMIN_TOKEN", "from-admin-token")  # ocr-admin's own comes first
    assert admin_cli.build_parser().parse_args(["slots"]).token == "from-admin-token"
    assert admin_cli.build_parser().parse_args(["slots", "--token", "flag"]).token == "flag"
