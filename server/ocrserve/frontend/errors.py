"""The one place where internal errors become gRPC statuses, and where each RPC
gets its request id.

:func:`status_of` turns an :class:`~ocrserve.errors.OcrError` into a
``google.rpc.Status`` with details a program can act on: ErrorInfo (reason,
domain, metadata), BadRequest (the field at fault), RetryInfo (transient
conditions only) and RequestInfo (the request id).  The same Status fails an
RPC or, per image, fills a result's ``error``.

:class:`ErrorInterceptor` wraps every handler: it takes the request id from
the ``x-request-id`` metadata (or makes one), puts it in the logging context
and the trailing metadata, and turns what the handler raises into the RPC's
status.  Each failed, rejected or cancelled RPC writes one log line; only
unexpected errors write a traceback, and their text never reaches the caller.
It also counts each RPC in the request metrics (``metrics/families.py``):
calls that gRPC itself refuses before a handler runs (a message over
max_message_mb) are not seen here.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc import aio

from ocrserve.context import request_id
from ocrserve.errors import OcrError, Reason, error_from_dict
from ocrserve.metrics import families

log = logging.getLogger(__name__)

#: ErrorInfo.domain of every error this server raises.
DOMAIN = "ocrserve"
REQUEST_ID_KEY = "x-request-id"
STATUS_DETAILS_KEY = "grpc-status-details-bin"
MAX_REQUEST_ID_LENGTH = 128

Metadata = Sequence[tuple[str, str | bytes]]


def status_code(error: OcrError) -> grpc.StatusCode:
    return getattr(grpc.StatusCode, error.status, grpc.StatusCode.INTERNAL)


def status_of(error: OcrError) -> status_pb2.Status:
    """The google.rpc.Status a caller sees for ``error`` in the current request."""
    code = status_code(error)
    status = status_pb2.Status(code=code.value[0], message=error.public_message)
    details: list[Any] = [
        error_details_pb2.ErrorInfo(reason=str(error.reason), domain=DOMAIN,
                                    metadata=error.metadata),
        error_details_pb2.RequestInfo(request_id=request_id.get()),
    ]
    if error.field is not None:
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=error.field, description=error.public_message)
        details.append(error_details_pb2.BadRequest(field_violations=[violation]))
    if error.retry_after_s is not None:
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(round(error.retry_after_s * 1000))
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
    for detail in details:
        status.details.add().Pack(detail)
    return status


def error_from_status(code: grpc.StatusCode, message: str | None,
                      trailing: Metadata | None) -> OcrError:
    """The inverse of :func:`status_of`: the error another process of this server answered
    (a sibling front-end, see spread.py), rebuilt from its google.rpc.Status so it reaches
    the caller with the same code, message, reason, field and retry delay."""
    data: dict[str, Any] = {"status": code.name, "message": message or ""}
    for key, value in trailing or ():
        if key != STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        status = status_pb2.Status.FromString(value)
        data["message"] = status.message
        for detail in status.details:
            info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
            retry = error_details_pb2.RetryInfo()
            if detail.Unpack(info):
                data["reason"], data["metadata"] = info.reason, dict(info.metadata)
            elif detail.Unpack(bad) and bad.field_violations:
                data["field"] = bad.field_violations[0].field
            elif detail.Unpack(retry):
                data["retry_after_s"] = retry.retry_delay.ToMilliseconds() / 1000
    return error_from_dict(data)


def is_forwarded(context: aio.ServicerContext) -> bool:
    """A call a sibling front-end handed over: only those arrive over a Unix socket (the
    supervisor's private folder; see spread.py)."""
    return (context.peer() or "").startswith("unix:")


def incoming_request_id(metadata: Metadata | None) -> str:
    """The caller's ``x-request-id`` if it is printable ASCII of sane length, else a new one."""
    for key, value in metadata or ():
        if key == REQUEST_ID_KEY and isinstance(value, str) and \
                0 < len(value) <= MAX_REQUEST_ID_LENGTH and value.isascii() and \
                value.isprintable():
            return value
    return uuid.uuid4().hex


def _as_ocr_error(exc: BaseException) -> OcrError:
    if isinstance(exc, OcrError):
        return exc
    return OcrError(f"unexpected {type(exc).__name__}: {exc}")


async def _abort(context: aio.ServicerContext, exc: BaseException, method: str,
                 elapsed_ms: float) -> None:
    error = _as_ocr_error(exc)
    _log_failure(method, error, exc, elapsed_ms)
    status = status_of(error)
    await context.abort(status_code(error), status.message, trailing_metadata=(
        (STATUS_DETAILS_KEY, status.SerializeToString()),
        (REQUEST_ID_KEY, request_id.get()),
    ))


def _log_failure(method: str, error: OcrError, exc: BaseException, elapsed_ms: float) -> None:
    line = "%s failed after %.0f ms: %s %s: %s"
    args = (method, elapsed_ms, error.status, error.reason, error.message)
    if error.status == "INTERNAL":
        log.error(line, *args, exc_info=exc)
    elif error.transient or error.reason == Reason.DEADLINE_EXCEEDED:
        log.warning(line, *args)
    else:
        log.info(line, *args)


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
                token = request_id.set(incoming_request_id(context.invocation_metadata()))
                started = time.monotonic()
                # A sibling's hand-over was counted by the front-end the caller reached.
                counted = not is_forwarded(context)
                try:
                    response = await inner_uu(request, context)
                except Exception as exc:  # CancelledError is not an Exception: see below
                    if _is_abort(exc):
                        raise
                    if counted:
                        _count(method, started, _as_ocr_error(exc))
                    await _abort(context, exc, method, _ms_since(started))
                except BaseException:  # gRPC cancels the handler: deadline or caller gone
                    remaining = context.time_remaining()
                    expired = remaining is not None and remaining <= 0
                    if counted:
                        _count(method, started,
                               "DEADLINE_EXCEEDED" if expired else "CANCELLED")
                    # The same shape as _log_failure's line: one pattern finds every failure.
                    log.warning("%s failed after %.0f ms: %s: %s; its remaining work was dropped",
                                method, _ms_since(started),
                                "DEADLINE_EXCEEDED" if expired else "CANCELLED",
                                "the deadline passed" if expired else "the caller cancelled")
                    raise
                else:
                    context.set_trailing_metadata(((REQUEST_ID_KEY, request_id.get()),))
                    if counted:
                        _count(method, started)
                    log.debug("%s ok in %.0f ms", method, _ms_since(started))
                    return response
                finally:
                    request_id.reset(token)

            return grpc.unary_unary_rpc_method_handler(
                unary_unary, handler.request_deserializer, handler.response_serializer)
        if handler.stream_stream or handler.unary_stream:
            inner = handler.stream_stream or handler.unary_stream

            async def streaming(request: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
                request_id.set(incoming_request_id(context.invocation_metadata()))
                started = time.monotonic()
                try:
                    async for response in inner(request, context):
                        yield response
                except Exception as exc:  # CancelledError is not an Exception: it passes
                    if _is_abort(exc):
                        raise
                    _count(method, started, _as_ocr_error(exc))
                    await _abort(context, exc, method, _ms_since(started))
                except BaseException:  # the caller cancelled or went away
                    _count(method, started, "CANCELLED")
                    raise
                else:
                    _count(method, started)
                    log.debug("%s ok in %.0f ms", method, _ms_since(started))

            factory = (grpc.stream_stream_rpc_method_handler if handler.stream_stream
                       else grpc.unary_stream_rpc_method_handler)
            return factory(streaming, handler.request_deserializer, handler.response_serializer)
        return handler


def _count(method: str, started: float, failure: OcrError | str | None = None) -> None:
    """The RPC's metrics: its duration, and a success or a failure by code and reason
    (a cancellation's code stands in for the reason it lacks)."""
    rpc = method.rsplit("/", 1)[-1]
    families.REQUEST_DURATION.labels(rpc).observe(time.monotonic() - started)
    if failure is None:
        families.REQUEST_SUCCESS.labels(rpc).inc()
    elif isinstance(failure, OcrError):
        families.REQUEST_FAILURE.labels(rpc, failure.status, str(failure.reason)).inc()
    else:
        families.REQUEST_FAILURE.labels(rpc, failure, failure).inc()


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000
