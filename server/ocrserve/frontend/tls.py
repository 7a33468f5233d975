"""TLS for the OCR and admin ports, with certificates reloaded without a restart.

The server's credentials are grpc's *dynamic* SSL credentials: gRPC asks
:meth:`CertificateFiles.fetch` for a configuration at every new handshake, and
it answers "no change" unless one of the files changed (inode, size or mtime of
the path it resolves to: a Kubernetes Secret volume swaps a ``..data``
symlink, so the link itself never changes).  Connections already open keep
the certificate they shook hands with; new ones get the new one.

grpc.aio servers accept these credentials (grpcio 1.85.3: the reload test in
tests/integration/test_security.py).  The fetcher runs on every new handshake,
so the usual case is three stats and nothing more.  Each port needs credentials,
and so a fetcher, of its own (``server._credentials`` says why).  A file caught
half-written, or a key that does not match its
certificate, is refused with a warning (naming the file, never its contents)
and the previous configuration stays in force until the next change.

Validation uses the standard library's ``ssl`` module, which loads PEM from
paths only; the bytes given to gRPC are the ones validated, so the chain and
key are checked through private temporary copies of what was read.
"""

from __future__ import annotations

import logging
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

import grpc

from ocrserve.errors import InvalidInput

log = logging.getLogger(__name__)

#: What identifies one version of a file: (inode, size, mtime in ns) of its real path.
Stamp = tuple[int, int, int]


@dataclass(frozen=True)
class Certificates:
    """One validated set of PEM bytes."""

    chain: bytes
    key: bytes
    client_ca: bytes | None

    def grpc_config(self) -> grpc.ServerCertificateConfiguration:
        return grpc.ssl_server_certificate_configuration(
            [(self.key, self.chain)], root_certificates=self.client_ca)


def _stamp(path: str) -> Stamp:
    info = os.stat(Path(path).resolve())
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def _check_pair(chain: bytes, key: bytes) -> None:
    """Raise ssl.SSLError unless ``chain`` parses and ``key`` is its private key."""
    with tempfile.TemporaryDirectory(prefix="ocrserve-tls-") as folder:
        chain_path, key_path = Path(folder, "chain.pem"), Path(folder, "key.pem")
        for path, data in ((chain_path, chain), (key_path, key)):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(chain_path, key_path)


def _check_bundle(bundle: bytes) -> None:
    """Raise ssl.SSLError (or ValueError) unless ``bundle`` holds CA certificates."""
    ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=bundle.decode())


def _unreadable(exc: OSError) -> InvalidInput:
    return InvalidInput(f"invalid configuration: cannot read {exc.filename}: {exc.strerror}")


class CertificateFiles:
    """The ``tls_*_file`` settings, read and validated, re-read when they change."""

    def __init__(self, cert_file: str, key_file: str, client_ca_file: str = "") -> None:
        self.paths = [cert_file, key_file, *([client_ca_file] if client_ca_file else [])]
        self._stamps = self._current_stamps()
        self.current = self._read()

    @property
    def mutual(self) -> bool:
        return len(self.paths) == 3

    def _current_stamps(self) -> list[Stamp]:
        try:
            return [_stamp(path) for path in self.paths]
        except OSError as exc:
            raise _unreadable(exc) from None

    def _read(self) -> Certificates:
        """The files' contents, or InvalidInput naming the file at fault."""
        try:
            chain, key, *ca = (Path(path).read_bytes() for path in self.paths)
        except OSError as exc:
            raise _unreadable(exc) from None
        try:
            _check_pair(chain, key)
        except ssl.SSLError as exc:
            raise InvalidInput(f"invalid configuration: tls_cert_file {self.paths[0]} and "
                               f"tls_key_file {self.paths[1]} are not a PEM certificate "
                               f"chain and its private key ({exc.reason})") from None
        if ca:
            try:
                _check_bundle(ca[0])
            except (ssl.SSLError, ValueError):
                raise InvalidInput(f"invalid configuration: tls_client_ca_file {self.paths[2]}"
                                   " holds no PEM CA certificate") from None
        return Certificates(chain, key, ca[0] if ca else None)

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """gRPC's per-handshake question: a new configuration, or None for "keep yours"."""
        try:
            stamps = self._current_stamps()
            if stamps == self._stamps:
                return None
            self._stamps = stamps  # a broken version is reported once, not per handshake
            self.current = self._read()
        except InvalidInput as exc:
            log.warning("TLS files changed but cannot be used; the previous certificates "
                        "stay in force: %s", exc.message)
            return None
        log.info("TLS certificates reloaded from %s", ", ".join(self.paths))
        return self.current.grpc_config()

    def server_credentials(self) -> grpc.ServerCredentials:
        return grpc.dynamic_ssl_server_credentials(
            self.current.grpc_config(), self.fetch,
            require_client_authentication=self.mutual)
