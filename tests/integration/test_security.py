"""TLS, mTLS, tokens and the plaintext health port through real servers and clients.

Two servers for the whole module: one with TLS, both tokens and a health_port
(the CLI and the log checks use it too), one with mTLS whose certificate files
are symlinks, swapped the way a Kubernetes Secret volume swaps them to show a
reload without a restart.  Certificates are made at test time (certificates.py).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from certificates import SERVER_NAME, KeyPair, make_ca, make_leaf

from ocrclient import (
    AsyncOcrClient,
    OcrClient,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
    Unimplemented,
)
from ocrclient.admin import AdminClient
from ocrserve.bench.spawn import ServerProcess
from ocrserve.supervisor.multiprocess import free_port

pytestmark = pytest.mark.slow

ADMIN_TOKEN = "adm-7f3e-never-logged"
INFERENCE_TOKEN = "inf-91c2-never-logged"
WRONG_TOKEN = "guess-0d1a-never-logged"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    folder = tmp_path_factory.mktemp("pki")
    ca = make_ca(folder, "ca")
    return {"ca": ca, "server": make_leaf(folder, "server", ca),
            "client": make_leaf(folder, "client", ca, client=True)}


def tls_flags(cert: Path, key: Path) -> list[str]:
    return ["--tls-cert-file", str(cert), "--tls-key-file", str(key)]


@pytest.fixture(scope="module")
def server(pki: dict[str, KeyPair], model_repository: Path) -> Iterator[ServerProcess]:
    """The supervisor with one front-end: TLS on the OCR port and on the admin port (the
    ModelService's own), both tokens, debug logging."""
    with ServerProcess(["--workers", "1", "--log-level", "debug", "--admin-port",
                        str(free_port("127.0.0.1")),
                        *tls_flags(pki["server"].cert, pki["server"].key)],
                       env={"OCR_MODEL_REPOSITORY": str(model_repository),
                            "OCR_ADMIN_TOKEN": ADMIN_TOKEN,
                            "OCR_INFERENCE_TOKEN": INFERENCE_TOKEN},
                       health_port=True) as proc:
        yield proc


def admin_target(server: ServerProcess) -> str:
    return f"127.0.0.1:{server.args[server.args.index('--admin-port') + 1]}"


def tls_client(server: ServerProcess, ca: KeyPair, **kwargs: object) -> OcrClient:
    return OcrClient(server.target, timeout=60, retries=0, root_certificates=ca.cert,
                     **kwargs)  # type: ignore[arg-type]


def test_an_ocr_call_over_tls_with_the_ca_and_the_inference_token(
        server: ServerProcess, pki: dict[str, KeyPair], sign: Path) -> None:
    with tls_client(server, pki["ca"], token=INFERENCE_TOKEN) as client:
        assert client.ocr_one(sign).lines


def test_the_async_client_speaks_tls_too(server: ServerProcess, pki: dict[str, KeyPair]
                                         ) -> None:
    async def info() -> str:
        async with AsyncOcrClient(server.target, timeout=60, retries=0,
                                  root_certificates=pki["ca"].cert.read_bytes(),
                                  token=INFERENCE_TOKEN) as client:
            return (await client.get_server_info()).server_version

    assert asyncio.run(info())


def test_a_plaintext_client_cannot_reach_the_tls_port(server: ServerProcess) -> None:
    with OcrClient(server.target, timeout=10, retries=0) as client, \
            pytest.raises(Unavailable):
        client.get_server_info()


def test_the_server_name_override_picks_the_name_checked(
        server: ServerProcess, pki: dict[str, KeyPair]) -> None:
    with tls_client(server, pki["ca"], server_name=SERVER_NAME,
                    token=INFERENCE_TOKEN) as client:
        assert client.get_server_info().server_version
    with tls_client(server, pki["ca"], server_name="other.test",
                    token=INFERENCE_TOKEN) as client, pytest.raises(Unavailable):
        client.get_server_info()


@pytest.mark.parametrize("token", [None, WRONG_TOKEN])
def test_ocr_without_a_known_token_is_unauthenticated(
        server: ServerProcess, pki: dict[str, KeyPair], token: str | None) -> None:
    with tls_client(server, pki["ca"], token=token) as client, \
            pytest.raises(Unauthenticated) as refused:
        client.get_server_info()
    assert refused.value.reason == "INFERENCE_TOKEN_REQUIRED"


def test_the_inference_token_does_not_grant_the_model_service(
        server: ServerProcess, pki: dict[str, KeyPair]) -> None:
    with AdminClient(admin_target(server), token=INFERENCE_TOKEN, timeout=30,
                     root_certificates=pki["ca"].cert) as admin, \
            pytest.raises(PermissionDenied):
        admin.list_slots()
    with AdminClient(admin_target(server), token=ADMIN_TOKEN, timeout=30,
                     root_certificates=pki["ca"].cert) as admin:
        assert {slot.slot for slot in admin.list_slots()} >= {"det", "rec"}
    with tls_client(server, pki["ca"], token=ADMIN_TOKEN) as client:  # admin grants OCR too
        assert client.get_server_info().server_version


def test_the_health_port_answers_in_plaintext_and_serves_nothing_else(
        server: ServerProcess) -> None:
    with OcrClient(server.health_target, timeout=10, retries=0) as probe:
        assert probe.health() == "SERVING"
        with pytest.raises(Unimplemented):
            probe.get_server_info()


def cli(module: str, *argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *map(str, argv)],
                          capture_output=True, text=True, timeout=120)


def test_the_clis_take_tls_and_token_flags_after_the_verb(
        server: ServerProcess, pki: dict[str, KeyPair], sign: Path) -> None:
    ocr = cli("ocrclient.cli", "ocr", sign, "--server", server.target, "--json",
              "--tls-ca", pki["ca"].cert, "--token", INFERENCE_TOKEN)
    assert ocr.returncode == 0, ocr.stderr
    assert '"text"' in ocr.stdout
    admin = cli("ocrclient.admin_cli", "slots", "--server", admin_target(server),
                "--tls-ca", pki["ca"].cert, "--server-name", SERVER_NAME,
                "--token", ADMIN_TOKEN)
    assert admin.returncode == 0, admin.stderr
    assert "rec" in admin.stdout
    half = cli("ocrclient.cli", "info", "--server", server.target, "--tls-cert",
               pki["client"].cert)
    assert half.returncode == 2 and "--tls-key" in half.stderr


def test_the_server_log_holds_no_token(server: ServerProcess) -> None:
    """Last of this server's tests: by now each token, and a wrong one, has been sent."""
    log = server.log()
    assert "UNAUTHENTICATED" in log and "PERMISSION_DENIED" in log  # refusals are logged
    for token in (ADMIN_TOKEN, INFERENCE_TOKEN, WRONG_TOKEN):
        assert token not in log


# ---------------------------------------------------------------- mTLS and reload


def link(path: Path, target: Path) -> None:
    """Point the symlink ``path`` at ``target`` in one rename, as kubelet does."""
    fresh = path.with_name(path.name + ".new")
    fresh.symlink_to(target)
    fresh.replace(path)


@pytest.fixture(scope="module")
def mtls(pki: dict[str, KeyPair], model_repository: Path,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    """An mTLS server whose tls_cert_file and tls_key_file are symlinks into ``..data``,
    with the ModelService on a port of its own (each port has its own credentials)."""
    mounted = tmp_path_factory.mktemp("secret")
    link(mounted / "tls.crt", pki["server"].cert)
    link(mounted / "tls.key", pki["server"].key)
    with ServerProcess(["--workers", "0", "--admin-port", str(free_port("127.0.0.1")),
                        *tls_flags(mounted / "tls.crt", mounted / "tls.key"),
                        "--tls-client-ca-file", str(pki["ca"].cert)],
                       env={"OCR_MODEL_REPOSITORY": str(model_repository),
                            "OCR_ADMIN_TOKEN": ADMIN_TOKEN},
                       health_port=True) as proc:
        yield proc, mounted


def test_mtls_needs_a_client_certificate_signed_by_the_client_ca(
        mtls: tuple[ServerProcess, Path], pki: dict[str, KeyPair]) -> None:
    server, _ = mtls
    with tls_client(server, pki["ca"]) as anonymous, pytest.raises(Unavailable):
        anonymous.get_server_info()
    with tls_client(server, pki["ca"], certificate_chain=pki["client"].cert,
                    private_key=pki["client"].key.read_bytes()) as client:
        assert client.get_server_info().server_version


def test_new_certificates_serve_new_connections_without_a_restart(
        mtls: tuple[ServerProcess, Path], pki: dict[str, KeyPair], tmp_path: Path) -> None:
    server, mounted = mtls
    identity = {"certificate_chain": pki["client"].cert, "private_key": pki["client"].key}
    new_ca = make_ca(tmp_path, "new-ca")
    renewed = make_leaf(tmp_path, "renewed", new_ca)
    half_written = tmp_path / "half.pem"
    half_written.write_bytes(renewed.cert.read_bytes()[:100])
    link(mounted / "tls.crt", half_written)  # caught mid-write: the old certificate stays
    with tls_client(server, pki["ca"], **identity) as client:
        assert client.get_server_info().server_version
    link(mounted / "tls.key", renewed.key)
    link(mounted / "tls.crt", renewed.cert)
    with tls_client(server, new_ca, **identity) as client:
        assert client.get_server_info().server_version
    with tls_client(server, pki["ca"], **identity) as old, pytest.raises(Unavailable):
        old.get_server_info()
    # The admin port reloads too: a fetcher of its own, on the same files.
    with AdminClient(admin_target(server), token=ADMIN_TOKEN, timeout=30,
                     root_certificates=new_ca.cert, **identity) as admin:
        assert {slot.slot for slot in admin.list_slots()} >= {"det", "rec"}
    with AdminClient(admin_target(server), token=ADMIN_TOKEN, timeout=30,
                     root_certificates=pki["ca"].cert, **identity) as stale, \
            pytest.raises(Unavailable):
        stale.list_slots()
    assert "previous certificates stay in force" in server.log()
    assert "TLS certificates reloaded" in server.log()
    assert renewed.key.read_text() not in server.log()
