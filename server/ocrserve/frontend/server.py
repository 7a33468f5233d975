"""Build a gRPC front-end server (apart from running it).

``create_server`` wires servicers, health, reflection and the error
interceptor onto a ``grpc.aio`` server bound to ``host:port`` and returns the
server with the port it actually got (port 0 picks a free one).

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

from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ocrclient.proto.ocr.v1 import models_pb2, models_pb2_grpc, ocr_pb2, ocr_pb2_grpc
from ocrserve.engine.protocol import Inference
from ocrserve.errors import OcrError
from ocrserve.frontend.errors import ErrorInterceptor
from ocrserve.frontend.servicer import ModelServicer, OcrServicer
from ocrserve.pipeline import Pipeline
from ocrserve.settings import Settings

SERVICE_NAMES = (
    ocr_pb2.DESCRIPTOR.services_by_name["OcrService"].full_name,
    models_pb2.DESCRIPTOR.services_by_name["ModelService"].full_name,
)


#: How often health is brought in line with the inference's readiness.
HEALTH_POLL_S = 0.1


class FrontendServer:
    """A bound (not yet started) gRPC server and its health state.

    ``ready`` says whether the inference behind the server can serve now.
    """

    def __init__(self, server: aio.Server, port: int, health_servicer: health.aio.HealthServicer,
                 ready: Callable[[], bool]) -> None:
        self.server = server
        self.port = port
        self.health = health_servicer
        self._ready = ready
        self._draining = False
        self._status: int | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.server.start()
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
        await self.server.stop(grace_s)

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
                  ready: Callable[[], bool] = lambda: True, *, reuse_port: bool = True
                  ) -> FrontendServer:
    """The server for ``inference``; ``reuse_port`` lets several front-end processes share
    the port (the supervisor checked that no other server holds it)."""
    max_bytes = settings.max_message_mb * 1024 * 1024
    server = aio.server(
        interceptors=[ErrorInterceptor()],
        options=[
            ("grpc.max_receive_message_length", max_bytes),
            ("grpc.max_send_message_length", max_bytes),
            # Several front-end processes share one port; the kernel spreads connections.
            ("grpc.so_reuseport", int(reuse_port)),
        ],
    )
    pipeline = Pipeline(inference, executor, settings.limits())
    ocr_pb2_grpc.add_OcrServiceServicer_to_server(
        OcrServicer(pipeline, inference, settings, executor), server)
    models_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(inference, settings), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    address = f"{settings.host}:{settings.port}"
    try:
        port = server.add_insecure_port(address)
    except RuntimeError:  # grpc's "Failed to bind": the port is taken (or the host wrong)
        port = 0
    if port == 0:
        raise OcrError(f"cannot serve on {address}: is another server using it?")
    return FrontendServer(server, port, health_servicer, ready)
