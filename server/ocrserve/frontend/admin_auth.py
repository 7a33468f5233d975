"""The ModelService's bearer token.

Operators change what the server serves; the services calling OCR must not be
able to.  With ``admin_token`` set, every ModelService call must carry
``authorization: Bearer <token>`` metadata or it fails with UNAUTHENTICATED
before its handler runs; the OCR API, health and reflection never ask for it.
The comparison takes the same time whatever the guess (``hmac.compare_digest``).

The check sits inside the error interceptor, so a refused call is logged and
answered like every other error.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc import aio

from ocrclient.proto.ocr.v1 import models_pb2
from ocrserve.errors import Unauthenticated

ADMIN_SERVICE = models_pb2.DESCRIPTOR.services_by_name["ModelService"].full_name


def bearer_token(metadata: Any) -> str | None:
    """The token of an ``authorization: Bearer ...`` entry, if there is one."""
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str) and value.startswith("Bearer "):
            return value.removeprefix("Bearer ").strip()
    return None


class AdminTokenInterceptor(aio.ServerInterceptor):
    def __init__(self, token: str) -> None:
        self._token = token.encode()

    def allowed(self, metadata: Any) -> bool:
        given = bearer_token(metadata)
        return given is not None and hmac.compare_digest(given.encode(), self._token)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if (handler is None or not details.method.startswith(f"/{ADMIN_SERVICE}/")
                or self.allowed(details.invocation_metadata)):
            return handler
        refusal = Unauthenticated(
            "the ModelService needs the admin token: send 'authorization: Bearer <token>'")
        if handler.unary_unary:
            async def refuse(request: Any, context: aio.ServicerContext) -> Any:
                raise refusal

            return grpc.unary_unary_rpc_method_handler(
                refuse, handler.request_deserializer, handler.response_serializer)

        async def refuse_stream(request: Any, context: aio.ServicerContext
                                ) -> AsyncIterator[Any]:
            raise refusal
            yield  # an async generator, as the streaming handler it replaces

        return grpc.unary_stream_rpc_method_handler(
            refuse_stream, handler.request_deserializer, handler.response_serializer)
