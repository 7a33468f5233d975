"""Build a gRPC front-end server (apart from running it).

``create_server`` wires servicers, health, reflection and the error
interceptor onto a ``grpc.aio`` server bound to ``host:port`` and returns the
server with the port it actually got (port 0 picks a free one).  Health is
SERVING once the server starts and NOT_SERVING as soon as a drain begins, so
load balancers stop sending new work before the port closes.
"""

from __future__ import annotations

from concurrent.futures import Executor

from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ocrclient.proto.ocr.v1 import models_pb2, models_pb2_grpc, ocr_pb2, ocr_pb2_grpc
from ocrserve.engine.protocol import Inference
from ocrserve.errors import Unavailable
from ocrserve.frontend.errors import ErrorInterceptor
from ocrserve.frontend.servicer import ModelServicer, OcrServicer
from ocrserve.pipeline import Pipeline
from ocrserve.settings import Settings

SERVICE_NAMES = (
    ocr_pb2.DESCRIPTOR.services_by_name["OcrService"].full_name,
    models_pb2.DESCRIPTOR.services_by_name["ModelService"].full_name,
)


class FrontendServer:
    """A bound (not yet started) gRPC server and its health state."""

    def __init__(self, server: aio.Server, port: int, health_servicer: health.aio.HealthServicer
                 ) -> None:
        self.server = server
        self.port = port
        self.health = health_servicer

    async def start(self) -> None:
        await self.server.start()
        await self._set_health(health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace_s: float) -> None:
        """Drain: NOT_SERVING, refuse new RPCs, let in-flight ones finish within ``grace_s``."""
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.server.stop(grace_s)

    async def _set_health(self, status: int) -> None:
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, status)


def create_server(settings: Settings, inference: Inference, executor: Executor | None = None
                  ) -> FrontendServer:
    max_bytes = settings.max_message_mb * 1024 * 1024
    server = aio.server(
        interceptors=[ErrorInterceptor()],
        options=[
            ("grpc.max_receive_message_length", max_bytes),
            ("grpc.max_send_message_length", max_bytes),
            # Several front-end processes share one port; the kernel spreads connections.
            ("grpc.so_reuseport", 1),
        ],
    )
    pipeline = Pipeline(inference, executor)
    ocr_pb2_grpc.add_OcrServiceServicer_to_server(
        OcrServicer(pipeline, inference, settings, executor), server)
    models_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(inference, settings), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    address = f"{settings.host}:{settings.port}"
    port = server.add_insecure_port(address)
    if port == 0:
        raise Unavailable(f"cannot bind {address}")
    return FrontendServer(server, port, health_servicer)
