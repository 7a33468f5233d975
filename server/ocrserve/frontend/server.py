"""Build a gRPC front-end server (apart from running it).

``create_server`` wires servicers, health, reflection and the error (and
token) interceptors onto a ``grpc.aio`` server bound to ``host:port`` and
returns the server with the port it actually got (port 0 picks a free one).
With ``tls_cert_file`` set, the OCR and admin ports speak TLS only (mTLS with
``tls_client_ca_file``; see ``tls.py``); ``health_port`` adds a plaintext port
serving grpc.health.v1 alone, for probes that can do neither TLS nor tokens.

Health tells the truth: SERVING only while the inference behind it is ready
(an engine process that died and is being restarted is not) and no drain has
begun; NOT_SERVING from the first moment of a drain, so load balancers stop
sending new work while the port still accepts it (``drain_delay_s``).  The
same status is set for the whole server ("") and for each service.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import Executor
from functools import partial
from typing import Any

import grpc
from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ocrclient.proto.ocr.v1 import models_pb2, models_pb2_grpc, ocr_pb2, ocr_pb2_grpc
from ocrserve.engine.engine import Engine
from ocrserve.engine.protocol import Inference
from ocrserve.engine.router import EngineRouter
from ocrserve.errors import OcrError
from ocrserve.frontend import convert
from ocrserve.frontend.admin import ModelServicer, SingleEngine, SlotAdmin
from ocrserve.frontend.auth import TokenInterceptor
from ocrserve.frontend.errors import ErrorInterceptor
from ocrserve.frontend.servicer import OcrServicer
from ocrserve.frontend.spread import Spreader, SpreadInterceptor
from ocrserve.frontend.tls import CertificateFiles
from ocrserve.pipeline import Pipeline
from ocrserve.settings import Settings

OCR_SERVICE = ocr_pb2.DESCRIPTOR.services_by_name["OcrService"].full_name
MODEL_SERVICE = models_pb2.DESCRIPTOR.services_by_name["ModelService"].full_name
SERVICE_NAMES = (OCR_SERVICE, MODEL_SERVICE)


#: How often health is brought in line with the inference's readiness (a lost or
#: restarted engine; a drain updates it at once).  Kubelet probes run at most once a
#: second, and an engine restart takes seconds.  Each poll wakes the event loop: at
#: 10 Hz an idle front-end spent ~5 ms of CPU per second, at 2 Hz ~2 (BENCHMARKS.md).
HEALTH_POLL_S = 0.5


class FrontendServer:
    """The bound (not yet started) gRPC servers of one front-end and their health state:
    the OCR API's, and the ModelService's when it has a port of its own.

    ``ready`` says whether the inference behind the server can serve now.
    """

    def __init__(self, servers: list[aio.Server], port: int,
                 health_servicer: health.aio.HealthServicer, ready: Callable[[], bool],
                 admin_port: int | None = None, health_port: int | None = None) -> None:
        self.servers = servers
        self.port = port
        self.admin_port = admin_port
        self.health_port = health_port
        self.health = health_servicer
        self._ready = ready
        self._draining = False
        self._status: int | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for server in self.servers:
            await server.start()
        await self._update_health()
        self._watcher = asyncio.get_running_loop().create_task(self._watch_health())

    @property
    def serving(self) -> bool:
        return self._status == health_pb2.HealthCheckResponse.SERVING

    async def begin_drain(self) -> None:
        """NOT_SERVING from now on; calls are still accepted until :meth:`stop`."""
        self._draining = True
        await self._update_health()

    async def stop(self, grace_s: float) -> None:
        """Refuse new RPCs and let in-flight ones finish within ``grace_s``."""
        await self.begin_drain()
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await asyncio.gather(*(server.stop(grace_s) for server in self.servers))

    async def _watch_health(self) -> None:
        while True:
            await asyncio.sleep(HEALTH_POLL_S)
            await self._update_health()

    async def _update_health(self) -> None:
        serving = self._ready() and not self._draining
        status = (health_pb2.HealthCheckResponse.SERVING if serving
                  else health_pb2.HealthCheckResponse.NOT_SERVING)
        if status != self._status:
            self._status = status
            for name in ("", *SERVICE_NAMES):
                await self.health.set(name, status)


def create_server(settings: Settings, inference: Inference, executor: Executor | None = None,
                  ready: Callable[[], bool] = lambda: True, *, reuse_port: bool = True,
                  spreader: Spreader | None = None) -> FrontendServer:
    """The servers for ``inference``; ``reuse_port`` lets several front-end processes share
    the ports (the supervisor checked that no other server holds them).  With a
    ``spreader`` the OCR API also listens on this front-end's private Unix socket and
    hands calls to busier-than-it siblings' sockets (spread.py)."""
    health_servicer = health.aio.HealthServicer()
    models = ModelServicer(_admin_of(inference), settings) if settings.admin_enabled else None
    apart = models is not None and settings.admin_port >= 0
    main = _grpc_server(settings, reuse_port, spreader=spreader)
    pipeline = Pipeline(inference, executor, settings.limits())
    ocr_pb2_grpc.add_OcrServiceServicer_to_server(
        OcrServicer(pipeline, inference, settings, executor,
                    on_load=spreader.publish if spreader is not None else None), main)
    servers = [main]
    if models is not None:
        admin = _grpc_server(settings, reuse_port) if apart else main
        models_pb2_grpc.add_ModelServiceServicer_to_server(models, admin)
        if apart:
            servers.append(admin)
    for server in servers:
        names = [OCR_SERVICE] if server is main else []
        if models is not None and (server is not main or not apart):
            names.append(MODEL_SERVICE)
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        reflection.enable_server_reflection(
            (*names, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    port = _bind(main, settings.host, settings.port, _credentials(settings))
    if spreader is not None:  # private, in the supervisor's 0700 folder: plaintext
        _bind(main, "unix", spreader.own_socket, None)
    admin_port = (_bind(servers[1], settings.host, settings.admin_port, _credentials(settings))
                  if apart else None)
    health_port = None
    if settings.health_port >= 0:
        probes = _health_only_server(health_servicer, reuse_port)
        health_port = _bind(probes, settings.host, settings.health_port, None)
        servers.append(probes)
    return FrontendServer(servers, port, health_servicer, ready, admin_port, health_port)


def _credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS credentials that follow the certificate files, or None for plaintext.

    One per port: gRPC binds a credentials object to one port only, and each port's
    credentials keep their current configuration apart, so each needs a fetcher of its own
    (a shared one would answer the second port "no change" after the first had reloaded).
    """
    if not settings.tls_cert_file:
        return None
    return CertificateFiles(settings.tls_cert_file, settings.tls_key_file,
                            settings.tls_client_ca_file).server_credentials()


def _health_only_server(health_servicer: health.aio.HealthServicer, reuse_port: bool
                        ) -> aio.Server:
    """The ``health_port`` server: grpc.health.v1 and nothing else, so that leaving it
    in plaintext and without tokens exposes only the serving status."""
    server = aio.server(options=[("grpc.so_reuseport", int(reuse_port))])
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    return server


def _admin_of(inference: Inference) -> SlotAdmin:
    """Slot operations for every engine: the router's, or the in-process engine's."""
    if isinstance(inference, EngineRouter):
        return inference
    if isinstance(inference, Engine):
        return SingleEngine(inference)
    raise TypeError(f"no slot operations for a {type(inference).__name__}")


def _grpc_server(settings: Settings, reuse_port: bool,
                 spreader: Spreader | None = None) -> aio.Server:
    """A grpc.aio server with the message limits and the error interceptor (and the token
    check, inside it so that refusals are logged and answered like other errors, when a
    token is set; and the hand-over to siblings, last, so a call is checked before it is
    handed on)."""
    max_bytes = settings.max_message_mb * 1024 * 1024
    interceptors: list[aio.ServerInterceptor] = [ErrorInterceptor()]
    if settings.admin_token or settings.inference_token:
        interceptors.append(TokenInterceptor(settings.admin_token, settings.inference_token))
    if spreader is not None:
        interceptors.append(SpreadInterceptor(spreader, partial(
            _request_cost, max_image_pixels=settings.max_image_pixels)))
    return aio.server(
        interceptors=interceptors,
        options=[
            ("grpc.max_receive_message_length", max_bytes),
            ("grpc.max_send_message_length", max_bytes),
            # Several front-end processes share one port; the kernel spreads connections.
            ("grpc.so_reuseport", int(reuse_port)),
        ],
    )


def _request_cost(request: Any, *, max_image_pixels: int) -> int:
    return convert.request_pixels(request.images, max_image_pixels)


def _bind(server: aio.Server, host: str, port: int | str,
          credentials: grpc.ServerCredentials | None) -> int:
    """Bind ``host:port`` (``unix:PATH`` for a Unix socket) or fail with a clear error."""
    address = f"{host}:{port}"
    try:
        bound = (server.add_insecure_port(address) if credentials is None
                 else server.add_secure_port(address, credentials))
    except RuntimeError:  # grpc's "Failed to bind": the port is taken (or the host wrong)
        bound = 0
    if bound == 0:
        raise OcrError(f"cannot serve on {address}: is another server using it?")
    return bound
