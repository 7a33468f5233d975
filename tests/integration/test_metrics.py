"""Prometheus metrics and health of a real multi-process server, scraped over HTTP:
exact counts after known traffic, batch figures that agree with each other, every
metric the Grafana dashboard queries, counters that survive a front-end restart, and a
hung engine (SIGSTOP) reported unhealthy, killed and restarted."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ocrclient import Frame, OcrClient
from ocrclient.proto.ocr.v1 import ocr_pb2, ocr_pb2_grpc
from ocrserve.bench.spawn import ServerProcess
from ocrserve.bench.video import text_video
from ocrserve.metrics.dashboard import queried_metrics

pytestmark = pytest.mark.slow

DASHBOARD = Path(__file__).resolve().parents[2] / "helm" / "ocrserve" / "dashboards" / \
    "ocrserve.json"
REC = "ch_PP-OCRv2_rec"
Samples = dict[str, dict[frozenset[tuple[str, str]], float]]


@pytest.fixture(scope="module")
def server(model_repository: Path) -> Iterator[ServerProcess]:
    slots = ["--slot", "det=ch_PP-OCRv2_det", "--slot", "cls=ch_ppocr_mobile_v2.0_cls@onnx",
             "--slot", f"rec={REC}", "--slot", f"rec:a={REC}", "--slot", f"rec:b={REC}"]
    with ServerProcess(["--workers", "1", *slots, "--lazy-slots", "*",
                        "--max-loaded-models", "4", "--response-cache-mb", "8",
                        "--engine-heartbeat-timeout-s", "3"],
                       env={"OCR_MODEL_REPOSITORY": str(model_repository)}) as proc:
        yield proc


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[OcrClient]:
    with OcrClient(server.target, timeout=120, retries=0) as c:
        yield c


def scrape(server: ServerProcess) -> Samples:
    with urllib.request.urlopen(server.metrics_url, timeout=30) as response:
        text = response.read().decode()
    samples: Samples = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name][frozenset(sample.labels.items())] = sample.value
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for k, v in samples.get(name, {}).items() if wanted <= k)


def wait_for(condition: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def health(server: ServerProcess) -> str:
    try:
        return server.health(timeout=1.0)
    except grpc.RpcError:
        return "UNREACHABLE"


def test_request_counts_are_exact(server: ServerProcess, client: OcrClient,
                                  sign: Path) -> None:
    before = scrape(server)
    for n in range(17):  # distinct requests: the response cache must not answer them
        client.ocr([sign], box_thresh=0.5 + n / 100)
    stub = ocr_pb2_grpc.OcrServiceStub(grpc.insecure_channel(server.target))
    bad = [ocr_pb2.OcrRequest(),  # no images
           ocr_pb2.OcrRequest(images=[ocr_pb2.Image(encoded=sign.read_bytes())],
                              detection=ocr_pb2.DetectionParams(box_thresh=2.0)),
           ocr_pb2.OcrRequest(images=[ocr_pb2.Image(encoded=sign.read_bytes())],
                              recognition=ocr_pb2.RecognitionParams(drop_score=-1.0))]
    for request in bad:
        with pytest.raises(grpc.RpcError) as info:
            stub.Ocr(request, timeout=30)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    after = scrape(server)

    def delta(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert delta("ocr_request_success_total", rpc="Ocr") == 17
    assert delta("ocr_request_failure_total", rpc="Ocr", code="INVALID_ARGUMENT") == 3
    assert delta("ocr_request_failure_total", rpc="Ocr", reason="NO_IMAGES") == 1
    assert delta("ocr_request_failure_total", rpc="Ocr",
                 reason="PARAMETER_OUT_OF_RANGE") == 2
    assert delta("ocr_request_duration_seconds_count", rpc="Ocr") == 20
    assert delta("ocr_image_pixels_count") == 17
    assert delta("ocr_image_boxes_count") == 17
    assert delta("ocr_request_crops_count") == 17
    assert delta("ocr_response_cache_misses_total") == 17
    assert delta("ocr_inference_count_total", slot="det") == 17
    stages = {stage: delta("ocr_frontend_cpu_seconds_total", stage=stage)
              for stage in ("decode", "det_preprocess", "det_postprocess", "crop",
                            "cls_preprocess", "rec_preprocess", "rec_postprocess")}
    assert all(seconds > 0 for seconds in stages.values()), stages
    # Thread CPU of the stages is part of the front-end process's CPU, never more.
    assert sum(stages.values()) <= delta("ocr_process_cpu_seconds_total", role="frontend")


def test_batch_figures_agree_with_each_other(server: ServerProcess, client: OcrClient,
                                            sign: Path) -> None:
    client.ocr([sign, sign, sign], box_thresh=0.33)
    samples = scrape(server)
    executions = samples["ocr_inference_exec_count_total"]
    assert executions, "no batches counted"
    for labels, batches in executions.items():
        assert samples["ocr_inference_batch_size_count"][labels] == batches
        assert samples["ocr_inference_batch_size_sum"][labels] == \
            samples["ocr_inference_count_total"][labels]
        assert samples["ocr_inference_compute_duration_seconds_count"][labels] == batches
        assert samples["ocr_inference_queue_duration_seconds_count"][labels] == \
            samples["ocr_inference_count_total"][labels]
        assert samples["ocr_inference_batch_elements_total"][labels] >= \
            samples["ocr_inference_item_elements_total"][labels] > 0
    assert total(samples, "ocr_model_state", slot="det", state="READY") == 1
    assert total(samples, "ocr_model_state", slot="rec:b", state="COLD") == 1
    assert total(samples, "ocr_model_load_duration_seconds", slot="det") > 0
    assert total(samples, "ocr_inference_pending_items") == 0
    for role in ("supervisor", "frontend", "engine"):
        assert total(samples, "ocr_process_resident_memory_bytes", role=role) > 10e6, role
        assert total(samples, "ocr_process_cpu_seconds_total", role=role) > 0, role


def test_every_metric_the_dashboard_queries_is_in_a_scrape(
        server: ServerProcess, client: OcrClient, sign: Path) -> None:
    # Traffic that touches every family: a cache hit, a failed image, two cold
    # recognizers (the second evicts the first: four models at most), a stream.
    client.ocr([sign], box_thresh=0.5)  # as in the first test: from the cache
    client.ocr([sign, b"not an image"], box_thresh=0.41)
    client.ocr_one(sign, language="a")
    client.ocr_one(sign, language="b")
    video = text_video(3)
    frames = list(client.stream((Frame(f.image) for f in video), overload="block"))
    assert [f.status for f in frames] == ["processed"] * 3
    samples = scrape(server)
    assert total(samples, "ocr_model_evictions_total", slot="rec:a") == 1
    assert total(samples, "ocr_response_cache_hits_total") >= 1
    assert total(samples, "ocr_image_failure_total", rpc="Ocr",
                 reason="IMAGE_UNDECODABLE") == 1
    assert total(samples, "ocr_stream_frames_total", status="processed") == 3
    assert total(samples, "ocr_streams_active") == 0
    assert total(samples, "ocr_request_success_total", rpc="StreamOcr") == 1

    queried = queried_metrics(json.loads(DASHBOARD.read_text()))
    gpus = {name for name in queried if name.startswith("ocr_gpu_")}
    assert gpus  # queried, but only scraped where NVML sees a GPU
    missing = queried - set(samples) - gpus
    assert not missing, f"the dashboard queries metrics the server does not expose: {missing}"


def test_counters_survive_a_front_end_restart(server: ServerProcess, client: OcrClient,
                                              sign: Path) -> None:
    before = total(scrape(server), "ocr_request_success_total", rpc="Ocr")
    killed = server.child_pids()["frontend-0"]
    os.kill(killed, signal.SIGKILL)
    wait_for(lambda: server.child_pids()["frontend-0"] != killed
             and health(server) == "SERVING")
    samples = scrape(server)
    assert total(samples, "ocr_request_success_total", rpc="Ocr") == before
    assert total(samples, "ocr_process_restarts_total", role="frontend") == 1
    with OcrClient(server.target, timeout=60) as fresh:
        fresh.ocr([sign], box_thresh=0.52)
    assert total(scrape(server), "ocr_request_success_total", rpc="Ocr") == before + 1


def test_a_hung_engine_is_reported_killed_and_restarted(server: ServerProcess,
                                                        sign: Path) -> None:
    engine = server.child_pids()["engine-cpu"]
    os.kill(engine, signal.SIGSTOP)
    try:
        wait_for(lambda: health(server) == "NOT_SERVING", timeout=30)
        wait_for(lambda: server.child_pids()["engine-cpu"] != engine, timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):  # if it was not killed after all
            os.kill(engine, signal.SIGCONT)
    assert "has not beaten for" in server.log()
    wait_for(lambda: health(server) == "SERVING", timeout=120)
    assert total(scrape(server), "ocr_process_restarts_total", role="engine") == 1
    with OcrClient(server.target, timeout=60) as fresh:
        assert fresh.ocr_one(sign).lines

