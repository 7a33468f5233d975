"""Test certificates made at test time with the ``openssl`` binary (the venv has no
``cryptography``): a CA, and leaf certificates it signs for servers and clients.

P-256 keys, valid two days: generating one takes milliseconds.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

#: The DNS name every test server certificate carries besides 127.0.0.1.
SERVER_NAME = "ocr.test"


@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def _key_and_request(folder: Path, name: str, subject: str, *extra: str) -> list[str | Path]:
    return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", folder / f"{name}.key", "-subj", f"/CN={subject}", *extra]


def make_ca(folder: Path, name: str) -> KeyPair:
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", *_key_and_request(
        folder, name, f"{name} test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign"),
        "-days", "2", "-out", folder / f"{name}.pem")
    return KeyPair(folder / f"{name}.pem", folder / f"{name}.key")


def make_leaf(folder: Path, name: str, ca: KeyPair, *, client: bool = False) -> KeyPair:
    """A certificate signed by ``ca``: for a server (SAN 127.0.0.1 and SERVER_NAME) or,
    with ``client``, for a client (mTLS)."""
    folder.mkdir(parents=True, exist_ok=True)
    request = folder / f"{name}.csr"
    _openssl("req", "-new", *_key_and_request(folder, name, name), "-out", request)
    extensions = folder / f"{name}.ext"
    extensions.write_text("extendedKeyUsage=clientAuth\n" if client else
                          f"subjectAltName=IP:127.0.0.1,DNS:{SERVER_NAME}\n"
                          "extendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", request, "-CA", ca.cert, "-CAkey", ca.key,
             "-CAcreateserial", "-days", "2", "-extfile", extensions,
             "-out", folder / f"{name}.pem")
    return KeyPair(folder / f"{name}.pem", folder / f"{name}.key")
