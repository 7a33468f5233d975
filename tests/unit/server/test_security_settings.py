"""Start-up refusals of the security options: an exposed admin API without a token,
TLS files given by halves or unusable (the served TLS: tests/integration/test_security.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocrserve.errors import InvalidInput
from ocrserve.settings import Settings, is_loopback


def test_admin_on_every_address_without_a_token_refuses_to_start() -> None:
    with pytest.raises(InvalidInput, match="admin_token") as refused:
        Settings.load([], env={})
    assert "OCR_ADMIN_TOKEN" in refused.value.message
    assert "--no-admin-enabled" in refused.value.message


@pytest.mark.parametrize("argv", [["--host", "127.0.0.1"], ["--no-admin-enabled"],
                                  ["--admin-token", "t0ken"], ["--host", "::1"]])
def test_a_token_a_loopback_host_or_no_admin_api_may_start(argv: list[str]) -> None:
    assert Settings.load(argv, env={}).port == 50051


def test_loopback_means_only_this_machine() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.3.0.1") and is_loopback("localhost")
    assert is_loopback("[::1]")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1")
    assert not is_loopback("ocr.example.org")


@pytest.mark.parametrize(("argv", "message"), [
    (["--tls-cert-file", "c.pem"], "both or neither"),
    (["--tls-key-file", "k.pem"], "both or neither"),
    (["--tls-client-ca-file", "ca.pem"], "needs tls_cert_file"),
    (["--admin-token", "same", "--inference-token", "same"], "must differ"),
    (["--health-port", "50051"], "health_port must differ"),
    (["--health-port", "-2"], "health_port must be"),
])
def test_inconsistent_security_options_stop_start_up(argv: list[str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        Settings.load(["--host", "127.0.0.1", *argv], env={})


def test_tls_files_that_are_not_pem_stop_start_up(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("not a certificate\n")
    key.write_text("not a key\n")
    with pytest.raises(InvalidInput, match="tls_cert_file"):
        Settings.load(["--host", "127.0.0.1", "--tls-cert-file", str(cert),
                       "--tls-key-file", str(key)], env={})
    with pytest.raises(InvalidInput, match="cannot read"):
        Settings.load(["--host", "127.0.0.1", "--tls-cert-file", str(tmp_path / "none.pem"),
                       "--tls-key-file", str(key)], env={})
