"""Bearer tokens and their scopes.

Two tokens, two scopes.  ``admin_token`` lets its holder change what the server
serves (the ModelService) and also call the OCR API; ``inference_token`` lets
its holder call the OcrService only.  With a token set for a service, each of
its calls must carry ``authorization: Bearer <token>`` metadata or fail before
its handler runs:

- no token, or one the server does not know: UNAUTHENTICATED;
- the inference token on the ModelService: PERMISSION_DENIED (the caller is
  known, and sending the same token again cannot help).

Health and reflection never ask for a token (probes and tools must reach them).
Comparisons take the same time whatever the guess (``hmac.compare_digest``),
and both tokens are always compared, so timing does not tell which one was
nearly right.  Tokens never reach a log line: refusals name the scope, not the
token sent.

The check sits inside the error interceptor, so a refused call is logged and
answered like every other error.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from enum import Enum
from typing import Any

import grpc
from grpc import aio

from ocrclient.proto.ocr.v1 import models_pb2, ocr_pb2
from ocrserve.errors import OcrError, PermissionDenied, Reason, Unauthenticated

ADMIN_SERVICE = models_pb2.DESCRIPTOR.services_by_name["ModelService"].full_name
OCR_SERVICE = ocr_pb2.DESCRIPTOR.services_by_name["OcrService"].full_name


class Scope(Enum):
    ADMIN = "admin"
    INFERENCE = "inference"


def bearer_token(metadata: Any) -> str | None:
    """The token of an ``authorization: Bearer ...`` entry, if there is one."""
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str) and value.startswith("Bearer "):
            return value.removeprefix("Bearer ").strip()
    return None


def _same(given: bytes, expected: bytes) -> bool:
    return bool(expected) and hmac.compare_digest(given, expected)


class TokenInterceptor(aio.ServerInterceptor):
    """Refuses OcrService and ModelService calls whose token does not grant them; an
    empty token leaves its service open."""

    def __init__(self, admin_token: str, inference_token: str) -> None:
        self._admin = admin_token.encode()
        self._inference = inference_token.encode()

    def scope(self, metadata: Any) -> Scope | None:
        """What the call's token grants, or None for no token or an unknown one."""
        given = (bearer_token(metadata) or "").encode()
        is_admin = _same(given, self._admin)
        is_inference = _same(given, self._inference)  # compared even after a match
        if is_admin:
            return Scope.ADMIN
        return Scope.INFERENCE if is_inference else None

    def refusal(self, method: str, metadata: Any) -> OcrError | None:
        """Why ``method`` may not run with this metadata, or None when it may."""
        service = method.split("/")[1] if method.count("/") >= 2 else ""
        if service == ADMIN_SERVICE and self._admin:
            scope = self.scope(metadata)
            if scope is Scope.INFERENCE:
                return PermissionDenied("the inference token does not grant the ModelService; "
                                        "send the admin token")
            if scope is None:
                return Unauthenticated("the ModelService needs the admin token: send "
                                       "'authorization: Bearer <token>'")
        if service == OCR_SERVICE and self._inference and self.scope(metadata) is None:
            return Unauthenticated("the OcrService needs a token: send 'authorization: Bearer "
                                   "<token>'", reason=Reason.INFERENCE_TOKEN_REQUIRED)
        return None

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        refusal = None if handler is None else self.refusal(details.method,
                                                            details.invocation_metadata)
        if refusal is None:
            return handler
        return _refusing(handler, refusal)


def _refusing(handler: grpc.RpcMethodHandler, refusal: OcrError) -> grpc.RpcMethodHandler:
    """A handler of the same kind as ``handler`` that raises ``refusal`` at once."""
    if handler.unary_unary:
        async def refuse(request: Any, context: aio.ServicerContext) -> Any:
            raise refusal

        return grpc.unary_unary_rpc_method_handler(
            refuse, handler.request_deserializer, handler.response_serializer)

    async def refuse_stream(request: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
        raise refusal
        yield  # an async generator, as the streaming handler it replaces

    factory = (grpc.stream_stream_rpc_method_handler if handler.stream_stream
               else grpc.unary_stream_rpc_method_handler)
    return factory(refuse_stream, handler.request_deserializer, handler.response_serializer)
