"""The one place where internal errors become gRPC status codes.

An interceptor wraps every handler: an :class:`~ocrserve.errors.OcrError`
aborts the RPC with its status and message; anything else is logged with its
traceback and reported as INTERNAL without leaking internals to the caller.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc import aio

from ocrserve.errors import OcrError

log = logging.getLogger(__name__)


def status_code(error: OcrError) -> grpc.StatusCode:
    return getattr(grpc.StatusCode, error.status, grpc.StatusCode.INTERNAL)


async def _abort(context: aio.ServicerContext, exc: BaseException, method: str) -> None:
    if isinstance(exc, OcrError):
        await context.abort(status_code(exc), str(exc))
    log.exception("unexpected error in %s", method, exc_info=exc)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method}; see server log")


def _is_abort(exc: BaseException) -> bool:
    # context.abort() raises AbortError to end the RPC: let it through.
    return isinstance(exc, aio.AbortError)


class ErrorInterceptor(aio.ServerInterceptor):
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return None
        method = details.method
        if handler.unary_unary:
            inner_uu = handler.unary_unary

            async def unary_unary(request: Any, context: aio.ServicerContext) -> Any:
                try:
                    return await inner_uu(request, context)
                except Exception as exc:  # CancelledError is not an Exception: it passes
                    if _is_abort(exc):
                        raise
                    await _abort(context, exc, method)

            return grpc.unary_unary_rpc_method_handler(
                unary_unary, handler.request_deserializer, handler.response_serializer)
        if handler.stream_stream or handler.unary_stream:
            inner = handler.stream_stream or handler.unary_stream

            async def streaming(request: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
                try:
                    async for response in inner(request, context):
                        yield response
                except Exception as exc:  # CancelledError is not an Exception: it passes
                    if _is_abort(exc):
                        raise
                    await _abort(context, exc, method)

            factory = (grpc.stream_stream_rpc_method_handler if handler.stream_stream
                       else grpc.unary_stream_rpc_method_handler)
            return factory(streaming, handler.request_deserializer, handler.response_serializer)
        return handler
