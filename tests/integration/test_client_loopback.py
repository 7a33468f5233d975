"""Both clients and the CLI against a small in-process gRPC server on 127.0.0.1:0.

The servicer below is test data: it answers like the real server would (one
result per image, ids echoed) and can fail on demand, so retries, error
translation and deadlines run through real gRPC channels.  The tests against
the real ocrserve live in tests/integration.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import numpy as np
import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from ocrclient import (
    AsyncOcrClient,
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    OcrClient,
    ResourceExhausted,
    RetryPolicy,
    Unavailable,
)
from ocrclient.cli import main
from ocrclient.proto.ocr.v1 import models_pb2, models_pb2_grpc, ocr_pb2, ocr_pb2_grpc

BOX = [ocr_pb2.Point(x=x, y=y) for x, y in [(2, 2), (20, 2), (20, 10), (2, 10)]]


class _Status(grpc.Status):
    """A rich status for ``abort_with_status``, built the way grpcio-status builds one."""

    def __init__(self, status: status_pb2.Status, request_id: str) -> None:
        self.code = grpc.StatusCode.RESOURCE_EXHAUSTED
        self.details = status.message
        self.trailing_metadata = (("grpc-status-details-bin", status.SerializeToString()),
                                  ("x-request-id", request_id))
FAST_RETRY = RetryPolicy(max_attempts=4, initial_backoff=0.01, max_backoff=0.05)


class Servicer(ocr_pb2_grpc.OcrServiceServicer, models_pb2_grpc.ModelServiceServicer):
    def __init__(self) -> None:
        self.requests: list[Any] = []
        self.metadata: list[dict[str, str]] = []
        self.deadlines: list[float | None] = []
        self.unavailable_left = 0
        self.full_left = 0
        self.permanent = False
        self.delay = 0.0
        self.lock = threading.Lock()

    def _enter(self, request: Any, context: grpc.ServicerContext) -> None:
        with self.lock:
            self.requests.append(request)
            self.metadata.append(dict(context.invocation_metadata()))
            self.deadlines.append(context.time_remaining())
            fail = self.unavailable_left > 0
            self.unavailable_left -= fail
        if fail:
            context.abort(grpc.StatusCode.UNAVAILABLE, "engine restarting")
        time.sleep(self.delay)

    def Ocr(self, request: ocr_pb2.OcrRequest, context: grpc.ServicerContext
            ) -> ocr_pb2.OcrResponse:
        self._enter(request, context)
        models = [ocr_pb2.ModelRef(stage="rec", slot="rec", name="test_rec", version=1)]
        results = [
            ocr_pb2.OcrResult(id=image.id, width=image.raw.width, height=image.raw.height,
                              lines=[ocr_pb2.TextLine(box=BOX, text=f"image {i}", score=0.9)],
                              models=models)
            for i, image in enumerate(request.images)
        ]
        context.set_trailing_metadata((("x-request-id", self.request_id(context)),))
        return ocr_pb2.OcrResponse(results=results)

    @staticmethod
    def request_id(context: grpc.ServicerContext) -> str:
        return dict(context.invocation_metadata()).get("x-request-id", "made-by-server")

    def Classify(self, request: ocr_pb2.ClassifyRequest, context: grpc.ServicerContext
                 ) -> ocr_pb2.ClassifyResponse:
        """Fails like the real server when its queue is full: RESOURCE_EXHAUSTED with a
        RetryInfo, or (``permanent``) without one, as gRPC's own size limit does."""
        with self.lock:
            self.requests.append(request)
            full = self.full_left > 0
            self.full_left -= full
        if full or self.permanent:
            status = status_pb2.Status(code=grpc.StatusCode.RESOURCE_EXHAUSTED.value[0],
                                       message="queue full")
            status.details.add().Pack(error_details_pb2.ErrorInfo(reason="QUEUE_FULL",
                                                                  domain="ocrserve"))
            if not self.permanent:
                status.details.add().Pack(error_details_pb2.RetryInfo(
                    retry_delay=duration_pb2.Duration(nanos=20_000_000)))
            context.abort_with_status(_Status(status, self.request_id(context)))
        return ocr_pb2.ClassifyResponse(results=[
            ocr_pb2.Classification(id=image.id, angle=0, score=0.99) for image in request.images])

    def Detect(self, request: ocr_pb2.DetectRequest, context: grpc.ServicerContext
               ) -> ocr_pb2.DetectResponse:
        self._enter(request, context)
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "image 0: cannot decode")
        raise AssertionError("abort() raises")

    def ListCatalog(self, request: models_pb2.ListCatalogRequest,
                    context: grpc.ServicerContext) -> models_pb2.ListCatalogResponse:
        return models_pb2.ListCatalogResponse(models=[models_pb2.CatalogModel(
            name="test_rec", kind=models_pb2.MODEL_KIND_REC)])

    def ListSlots(self, request: models_pb2.ListSlotsRequest,
                  context: grpc.ServicerContext) -> models_pb2.ListSlotsResponse:
        return models_pb2.ListSlotsResponse(slots=[models_pb2.SlotStatus(
            slot="rec", model="test_rec", state=models_pb2.SLOT_STATE_READY)])


@pytest.fixture
def server() -> Iterator[tuple[str, Servicer]]:
    servicer = Servicer()
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    ocr_pb2_grpc.add_OcrServiceServicer_to_server(servicer, grpc_server)
    models_pb2_grpc.add_ModelServiceServicer_to_server(servicer, grpc_server)
    health_servicer = health.HealthServicer()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set("ocr.v1.OcrService", health_pb2.HealthCheckResponse.NOT_SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, grpc_server)
    port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    yield f"127.0.0.1:{port}", servicer
    grpc_server.stop(0).wait()


def test_sync_ocr_round_trip(server: tuple[str, Servicer]) -> None:
    target, servicer = server
    with OcrClient(target, retries=FAST_RETRY) as client:
        results = client.ocr([b"encoded", np.zeros((4, 6, 3), np.uint8)], box_thresh=0.4,
                             language="french", use_angle_cls=False)
    assert [r.lines[0].text for r in results] == ["image 0", "image 1"]
    assert (results[1].width, results[1].height) == (6, 4)
    assert results[0].lines[0].box == ((2.0, 2.0), (20.0, 2.0), (20.0, 10.0), (2.0, 10.0))
    assert results[0].models[0].name == "test_rec"
    [request] = servicer.requests
    assert request.detection.box_thresh == pytest.approx(0.4)
    assert request.recognition.slot == "french"
    assert request.HasField("use_angle_cls") and not request.use_angle_cls


def test_unavailable_is_retried(server: tuple[str, Servicer]) -> None:
    target, servicer = server
    servicer.unavailable_left = 2
    with OcrClient(target, retries=FAST_RETRY) as client:
        result = client.ocr_one(b"x")
    assert result.lines[0].text == "image 0"
    assert len(servicer.requests) == 3


def test_retries_run_out(server: tuple[str, Servicer]) -> None:
    target, servicer = server
    servicer.unavailable_left = 10
    policy = RetryPolicy(max_attempts=2, initial_backoff=0.01, max_backoff=0.01)
    with OcrClient(target, retries=policy) as client, pytest.raises(Unavailable) as info:
        client.ocr_one(b"x")
    assert info.value.details == "engine restarting"
    assert len(servicer.requests) == 2


def test_server_errors_are_translated_not_retried(server: tuple[str, Servicer]) -> None:
    target, servicer = server
    with OcrClient(target, retries=FAST_RETRY) as client, pytest.raises(InvalidArgument) as info:
        client.detect([b"x"])
    assert info.value.details == "image 0: cannot decode"
    assert len(servicer.requests) == 1


def test_a_full_queue_is_retried_after_the_servers_delay(server: tuple[str, Servicer]) -> None:
    target, servicer = server
    servicer.full_left = 2
    with OcrClient(target, retries=FAST_RETRY) as client:
        (result,) = client.classify([b"x"])
    assert result.angle == 0 and len(servicer.requests) == 3


def test_resource_exhausted_without_retry_info_is_not_retried(
        server: tuple[str, Servicer]) -> None:
    target, servicer = server
    servicer.permanent = True
    with OcrClient(target, retries=FAST_RETRY) as client, \
            pytest.raises(ResourceExhausted) as info:
        client.classify([b"x"], request_id="mine-1")
    assert (info.value.reason, info.value.retry_delay) == ("QUEUE_FULL", None)
    assert info.value.request_id == "mine-1"
    assert len(servicer.requests) == 1


def test_call_options_reach_the_server(server: tuple[str, Servicer]) -> None:
    target, servicer = server
    with OcrClient(target, metadata=[("x-team", "billing")]) as client:
        client.ocr([b"x"], metadata=[("x-extra", "1")], request_id="rid-5",
                   wait_for_ready=True, timeout=None)
    assert servicer.metadata[-1]["x-team"] == "billing"
    assert servicer.metadata[-1]["x-extra"] == "1"
    assert servicer.metadata[-1]["x-request-id"] == "rid-5"
    assert servicer.deadlines[-1] > 1e9  # timeout=None: no deadline (grpc reports "infinite")


def test_the_clients_timeout_applies_when_the_call_gives_none(
        server: tuple[str, Servicer]) -> None:
    target, servicer = server
    with OcrClient(target, timeout=20) as client:
        client.ocr([b"x"])
    # The server sees 20 s give or take clock reads on either side (seen: 20.099 s on
    # grpcio 1.62, one run in three): well apart from the 30 s default and from none.
    assert servicer.deadlines[-1] is not None and 19 < servicer.deadlines[-1] < 21


def test_timeout_raises_deadline_exceeded(server: tuple[str, Servicer]) -> None:
    target, servicer = server
    servicer.delay = 0.5
    with OcrClient(target, timeout=0.1) as client, pytest.raises(DeadlineExceeded):
        client.ocr_one(b"x")


def test_health_and_models(server: tuple[str, Servicer]) -> None:
    target, _ = server
    with OcrClient(target) as client:
        assert client.health() == "SERVING"
        assert client.health("ocr.v1.OcrService") == "NOT_SERVING"
        with pytest.raises(NotFound):
            client.health("no.such.Service")
        assert [m.name for m in client.list_catalog()] == ["test_rec"]
        assert client.list_slots()[0].state == "READY"


def test_caller_channel_is_left_open(server: tuple[str, Servicer]) -> None:
    target, _ = server
    with grpc.insecure_channel(target) as channel:
        with OcrClient(channel=channel) as client:
            client.health()
        with OcrClient(channel=channel) as client:  # still usable after the first closed
            assert client.health() == "SERVING"


def test_async_client_round_trip_with_retry(server: tuple[str, Servicer]) -> None:
    target, servicer = server
    servicer.unavailable_left = 1

    async def scenario() -> tuple[list[str], str, str]:
        async with AsyncOcrClient(target, retries=FAST_RETRY) as client:
            results = await client.ocr([b"a", b"b"], drop_score=0.3)
            one = await client.ocr_one(b"c")
            return [r.lines[0].text for r in results], one.lines[0].text, await client.health()

    texts, one, status = asyncio.run(scenario())
    assert texts == ["image 0", "image 1"]
    assert one == "image 0"
    assert status == "SERVING"
    assert len(servicer.requests) == 3  # one UNAVAILABLE, then two answered
    assert servicer.requests[1].recognition.drop_score == pytest.approx(0.3)


def test_async_client_translates_errors(server: tuple[str, Servicer]) -> None:
    target, _ = server

    async def scenario() -> None:
        async with AsyncOcrClient(target) as client:
            await client.detect([b"x"])

    with pytest.raises(InvalidArgument, match="cannot decode"):
        asyncio.run(scenario())


def test_cli_text_output_and_health_exit_code(server: tuple[str, Servicer],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    target, _ = server
    assert main(["--server", target, "health"]) == 0
    assert capsys.readouterr().out == "SERVING\n"
    assert main(["--server", target, "health", "--service", "ocr.v1.OcrService"]) == 1
    assert capsys.readouterr().out == "NOT_SERVING\n"
    assert main(["--server", target, "models"]) == 0
    assert "test_rec" in capsys.readouterr().out
