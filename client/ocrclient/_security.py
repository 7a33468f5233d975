"""How a client reaches a server that asks for TLS, a client certificate or a token.

One description (:class:`Security`) for every client and CLI, so that the sync,
asyncio and admin clients open their channels the same way.  TLS is on as soon
as any certificate or a server name is given; without ``root_certificates``
gRPC checks the server against the system's roots.  The token travels as
``authorization: Bearer <token>`` metadata on every call, over TLS or not (a
token on a plaintext channel is readable on the wire: use TLS beyond loopback).

Only grpc APIs of the client's oldest supported grpcio (1.62) are used:
``ssl_channel_credentials``, ``secure_channel`` and the
``grpc.ssl_target_name_override`` channel option.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

#: PEM data, or the path of a file holding it.
Pem = str | os.PathLike[str] | bytes


def read_pem(source: Pem | None) -> bytes | None:
    """The PEM bytes of ``source``: bytes as they are, anything else read as a path."""
    if source is None or isinstance(source, bytes):
        return source
    return Path(source).read_bytes()


@dataclass(frozen=True)
class Security:
    """``root_certificates``: CA(s) to check the server against; ``certificate_chain`` and
    ``private_key``: this client's certificate for mTLS (both or neither); ``server_name``:
    the name to check the server's certificate for, when it differs from the target's
    host (an address, a tunnel); ``token``: the bearer token to send.  The key and the
    token are left out of ``repr``, so a traceback or a log line cannot show them."""

    root_certificates: Pem | None = None
    certificate_chain: Pem | None = None
    private_key: Pem | None = field(default=None, repr=False)
    server_name: str | None = None
    token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if (self.certificate_chain is None) != (self.private_key is None):
            raise ValueError("certificate_chain and private_key go together (mTLS)")

    @property
    def tls(self) -> bool:
        return any(value is not None for value in (
            self.root_certificates, self.certificate_chain, self.private_key, self.server_name))

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()

    def open_channel(self, channels: Any, target: str,
                     options: Sequence[tuple[str, Any]] = ()) -> Any:
        """A channel to ``target`` from ``channels`` (the ``grpc`` or ``grpc.aio`` module,
        whose channel functions take the same arguments)."""
        if not self.tls:
            return channels.insecure_channel(target, options=list(options))
        credentials = grpc.ssl_channel_credentials(
            root_certificates=read_pem(self.root_certificates),
            private_key=read_pem(self.private_key),
            certificate_chain=read_pem(self.certificate_chain))
        name = [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []
        return channels.secure_channel(target, credentials, options=[*options, *name])


def add_security_flags(add: Callable[..., Any], default: Callable[[Any], Any],
                       token_env: Sequence[str] = ("OCR_TOKEN",)) -> None:
    """``--tls-ca``, ``--tls-cert``, ``--tls-key``, ``--server-name`` and ``--token``, through
    ``add`` (a parser's or group's add_argument); ``default`` turns a default into the
    parser's (SUPPRESS in the commands' copies).  The token's default is the first of the
    ``token_env`` variables that is set: a variable keeps it out of shell history and ps."""
    token = next((os.environ[name] for name in token_env if os.environ.get(name)), None)
    add("--tls-ca", default=default(None), metavar="PEM",
        help="CA certificate(s) to check the server with; turns TLS on")
    add("--tls-cert", default=default(None), metavar="PEM",
        help="client certificate for mTLS (with --tls-key)")
    add("--tls-key", default=default(None), metavar="PEM", help="its private key")
    add("--server-name", default=default(None), metavar="NAME",
        help="name the server's certificate must carry, if not the --server host")
    add("--token", default=default(token), metavar="TOKEN",
        help=f"bearer token to send (env {' or '.join(token_env)})")


def check_security_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """A usage error (exit 2) for half an mTLS pair or a PEM file that cannot be read,
    before any channel is opened."""
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    for flag, path in (("--tls-ca", args.tls_ca), ("--tls-cert", args.tls_cert),
                       ("--tls-key", args.tls_key)):
        if path is not None:
            try:
                read_pem(path)
            except OSError as exc:
                parser.error(f"{flag} {path}: {exc.strerror or exc}")


def security_of(args: argparse.Namespace) -> Security:
    """The :class:`Security` the flags of :func:`add_security_flags` ask for."""
    return Security(root_certificates=args.tls_ca, certificate_chain=args.tls_cert,
                    private_key=args.tls_key, server_name=args.server_name, token=args.token)
