"""StreamOcr on a real server (one front-end, one engine) with the generated video of
``ocrserve.bench.video``: one response per frame in order, the right text, drops under
``latest``, none under ``block``, dedup, frame failures that do not end the stream, bad
configs, nothing left behind when a caller goes away, and ``ocr-client stream``."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import grpc
import numpy as np
import pytest

from ocrclient import AsyncOcrClient, Frame, FrameResult, InvalidArgument, NotFound, OcrClient
from ocrclient.proto.ocr.v1 import ocr_pb2, ocr_pb2_grpc
from ocrserve.bench.spawn import ServerProcess
from ocrserve.bench.video import VideoFrame, normalized, text_video, write_video

pytestmark = pytest.mark.slow

FRAMES = 300


@pytest.fixture(scope="module")
def server(model_repository: Path) -> Iterator[ServerProcess]:
    # One front-end, so GetServerInfo's stream counts are those of every stream here.
    with ServerProcess(["--workers", "1", "--stream-max-in-flight", "4"],
                       env={"OCR_MODEL_REPOSITORY": str(model_repository)}) as proc:
        yield proc


@pytest.fixture(scope="module")
def video() -> list[VideoFrame]:
    return text_video(FRAMES)


@pytest.fixture
def client(server: ServerProcess) -> Iterator[OcrClient]:
    with OcrClient(server.target, timeout=120) as c:
        yield c


def frames_of(video: Sequence[VideoFrame]) -> Iterator[Frame]:
    return (Frame(f.image, f.index, f.timestamp_s) for f in video)


def check_in_order_with_text(results: Sequence[FrameResult], video: Sequence[VideoFrame]
                             ) -> Counter[str]:
    """One result per frame, in order, echoing id and time; every frame with lines
    reads its own caption.  Returns the statuses."""
    assert [r.frame_id for r in results] == [f.index for f in video]
    assert [r.timestamp_s for r in results] == [f.timestamp_s for f in video]
    for result, frame in zip(results, video, strict=True):
        if result.status in ("processed", "deduped"):
            assert [normalized(x.text) for x in result.lines] == [normalized(frame.caption)], \
                (frame.index, result)
            assert {m.stage for m in result.models} >= {"det", "rec"}
        else:
            assert result.status == "dropped" and not result.lines, result
    return Counter(r.status for r in results)


def test_three_streams_with_block_and_dedup_process_every_frame_in_order(
        server: ServerProcess, video: list[VideoFrame]) -> None:
    outcomes: dict[int, list[FrameResult]] = {}
    with OcrClient(server.target) as admin:
        before = {s.slot: s for s in admin.list_slots()}["rec"]

    def one_stream(n: int) -> None:
        with OcrClient(server.target) as client:
            outcomes[n] = list(client.stream(frames_of(video), overload="block",
                                             dedup_threshold=0.05, max_in_flight=2))

    threads = [threading.Thread(target=one_stream, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    assert sorted(outcomes) == [0, 1, 2]
    with OcrClient(server.target) as admin:
        after = {s.slot: s for s in admin.list_slots()}["rec"]
    # One line per frame: a rec batch of several crops holds frames of several streams.
    batches, items = after.batches - before.batches, after.batched_items - before.batched_items
    processed = [r for results in outcomes.values() for r in results
                 if r.status == "processed"]
    assert items >= sum(len(r.lines) - r.reused_crops for r in processed)
    assert items > batches, (items, batches)
    for results in outcomes.values():
        statuses = check_in_order_with_text(results, video)
        # A frame is recomputed exactly when the picture moved or the caption changed.
        moved = sum(f.index == 0 or f.image is not video[f.index - 1].image for f in video)
        assert statuses == {"processed": moved, "deduped": FRAMES - moved}
        for result, frame in zip(results, video, strict=True):
            if result.status == "deduped":
                assert video[result.deduped_from or 0].image is frame.image


def test_latest_drops_stale_frames_and_block_drops_none(
        client: OcrClient, video: list[VideoFrame]) -> None:
    latest = list(client.stream(frames_of(video), overload="latest", max_in_flight=1))
    statuses = check_in_order_with_text(latest, video)
    assert statuses["dropped"] > 0 and statuses["processed"] > 0, statuses
    assert {r.drop_reason for r in latest if r.status == "dropped"} == {"superseded"}
    assert latest[-1].status == "processed"  # the newest frame is never the one dropped

    part = video[:40]
    blocked = list(client.stream(frames_of(part), overload="block", max_in_flight=1))
    assert check_in_order_with_text(blocked, part) == {"processed": len(part)}


def test_latest_with_dedup_never_drops_a_repeat_of_a_processed_frame(
        client: OcrClient, video: list[VideoFrame]) -> None:
    """Repeats are found before a frame waits for a place, so under ``latest`` they
    take none and are never superseded: once a frame of a still picture is processed,
    every later frame of that picture is answered from it.  (Deciding dedup after a
    frame took its place dropped repeats while they waited: 2.8 frames/s per stream
    at 8 streams.)"""
    results = list(client.stream(frames_of(video), overload="latest", max_in_flight=1,
                                 dedup_threshold=0.05))
    statuses = check_in_order_with_text(results, video)
    processed_in_run: set[int] = set()
    for result, frame in zip(results, video, strict=True):
        if frame.index and frame.image is not video[frame.index - 1].image:
            processed_in_run = set()  # a new picture starts a run
        if processed_in_run:
            assert result.status == "deduped", (frame.index, result.status)
            assert result.deduped_from in processed_in_run
        elif result.status == "processed":
            processed_in_run.add(frame.index)
    assert statuses["deduped"] > statuses["processed"] > 0, statuses


def test_frames_that_waited_too_long_are_dropped_as_stale(
        client: OcrClient, video: list[VideoFrame]) -> None:
    def slow_source() -> Iterator[Frame]:
        yield from frames_of(video[:2])  # the second waits behind the first ...
        time.sleep(1.0)  # ... and nothing supersedes it while it waits
        yield from frames_of(video[2:3])

    results = list(client.stream(slow_source(), max_in_flight=1, max_staleness_s=0.001))
    assert [(r.status, r.drop_reason) for r in results] == [
        ("processed", ""), ("dropped", "stale"), ("processed", "")]


def test_the_async_client_streams_with_the_same_semantics(
        server: ServerProcess, video: list[VideoFrame]) -> None:
    part = video[:60]

    async def frames() -> AsyncIterator[Frame]:
        for frame in frames_of(part):
            yield frame

    async def main() -> list[FrameResult]:
        async with AsyncOcrClient(server.target) as client:
            return [r async for r in client.stream(frames(), overload="block",
                                                   dedup_threshold=0.05)]

    results = asyncio.run(main())
    assert check_in_order_with_text(results, part) == {"processed": 6, "deduped": 54}


def test_a_changed_frame_recognizes_only_the_lines_whose_crops_changed(
        client: OcrClient) -> None:
    """A still title above a changing caption: detection runs on every frame, but the
    title's crop is the same each time, so its angle and text are reused; and a
    reused line is exactly what a fresh Ocr call gives."""
    video = text_video(40, title="DOCK 15")
    results = list(client.stream(frames_of(video), overload="block", max_in_flight=1))
    for result, frame in zip(results, video, strict=True):
        assert result.status == "processed"
        assert [normalized(x.text) for x in result.lines] == ["DOCK15", normalized(frame.caption)]
        if frame.index == 0:
            assert result.reused_crops == 0
        elif frame.image is video[frame.index - 1].image:  # a repeat: both lines reused
            assert result.reused_crops == 2, frame.index
        else:  # the caption moved or changed: at least the title is reused
            assert result.reused_crops >= 1, frame.index
    for index in (10, 30):  # the caption moved, and the caption changed
        fresh = client.ocr_one(video[index].image)
        streamed = results[index]
        assert [x.text for x in streamed.lines] == [x.text for x in fresh.lines]
        assert [x.score for x in streamed.lines] == pytest.approx(
            [x.score for x in fresh.lines], abs=1e-4)


@pytest.mark.parametrize(("dedup", "again"), [(0.0, "processed"), (0.05, "deduped")])
def test_a_failed_frame_does_not_end_the_stream(
        client: OcrClient, video: list[VideoFrame], dedup: float, again: str) -> None:
    """With dedup on, frames are decoded as they are read (stream.py): a broken one
    fails alone there too, and leaves the frame the next ones repeat as it was."""
    frames = [Frame(video[0].image), Frame(b"not an image at all"), Frame(video[0].image),
              Frame(video[30].image), Frame(ocr_pb2.Image())]
    results = list(client.stream(frames, overload="block", dedup_threshold=dedup))
    assert [r.status for r in results] == ["processed", "failed", again, "processed", "failed"]
    assert [r.frame_id for r in results] == [0, 1, 2, 3, 4]
    assert results[1].error is not None and results[1].error.reason == "IMAGE_UNDECODABLE"
    assert results[4].error is not None and results[4].error.reason == "IMAGE_EMPTY"
    assert [v.field for v in results[4].error.field_violations] == ["frame.image"]
    assert [normalized(x.text) for x in results[3].lines] == [normalized(video[30].caption)]


def test_bad_streams_fail_with_invalid_argument(client: OcrClient, server: ServerProcess,
                                                video: list[VideoFrame]) -> None:
    with pytest.raises(InvalidArgument, match="over the server's limit 4"):
        list(client.stream(frames_of(video[:2]), max_in_flight=5))
    with pytest.raises(InvalidArgument, match="dedup_threshold"):
        list(client.stream(frames_of(video[:2]), dedup_threshold=2.0))
    with pytest.raises(NotFound, match="klingon"):
        list(client.stream(frames_of(video[:2]), language="klingon"))
    for staleness in (-1.0, float("nan")):
        with pytest.raises(InvalidArgument, match="max_staleness_s must be >= 0"):
            list(client.stream(frames_of(video[:2]), max_staleness_s=staleness))

    stub = ocr_pb2_grpc.OcrServiceStub(grpc.insecure_channel(server.target))
    frame = ocr_pb2.StreamOcrRequest(frame=ocr_pb2.Frame(frame_id=1))
    with pytest.raises(grpc.RpcError) as info:
        list(stub.StreamOcr(iter([frame]), timeout=30))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "first message of a stream must be a config" in (info.value.details() or "")


def test_a_new_config_applies_to_the_frames_after_it(
        server: ServerProcess, video: list[VideoFrame]) -> None:
    image = ocr_pb2.Image(encoded=_png(video[0]))

    def requests() -> Iterator[ocr_pb2.StreamOcrRequest]:
        on = ocr_pb2.StreamConfig(dedup_threshold=0.05,
                                  overload=ocr_pb2.OVERLOAD_POLICY_BLOCK)
        yield ocr_pb2.StreamOcrRequest(config=on)
        for n in range(3):
            yield ocr_pb2.StreamOcrRequest(frame=ocr_pb2.Frame(image=image, frame_id=n))
        off = ocr_pb2.StreamConfig(overload=ocr_pb2.OVERLOAD_POLICY_BLOCK)
        yield ocr_pb2.StreamOcrRequest(config=off)
        for n in range(3, 5):
            yield ocr_pb2.StreamOcrRequest(frame=ocr_pb2.Frame(image=image, frame_id=n))

    stub = ocr_pb2_grpc.OcrServiceStub(grpc.insecure_channel(server.target))
    statuses = [ocr_pb2.FrameStatus.Name(r.status) for r in stub.StreamOcr(requests())]
    assert statuses == ["FRAME_STATUS_PROCESSED", *["FRAME_STATUS_DEDUPED"] * 2,
                        *["FRAME_STATUS_PROCESSED"] * 2]


def test_a_caller_that_goes_away_leaves_nothing_behind(
        client: OcrClient, video: list[VideoFrame]) -> None:
    before = client.get_server_info().streams
    for _ in range(10):  # leave after a few answers, with frames in flight
        endless = (Frame(f.image) for f in itertools.cycle(video))
        results = client.stream(endless, overload="block", max_in_flight=4)
        for _, _ in zip(range(3), results, strict=False):
            pass
        results.close()  # what ``break`` does: cancels the call
    deadline = time.monotonic() + 30
    while True:
        streams = client.get_server_info().streams
        queued = sum(s.queued for s in client.list_slots())
        if (streams.active_streams, streams.frames_in_server, queued) == (0, 0, 0):
            break
        assert time.monotonic() < deadline, (streams, queued)
        time.sleep(0.2)
    assert streams.processed >= before.processed + 30
    # The server still serves streams afterwards.
    after = list(client.stream(frames_of(video[:3]), overload="block"))
    assert [r.status for r in after] == ["processed"] * 3


def _png(frame: VideoFrame) -> bytes:
    import cv2

    ok, data = cv2.imencode(".png", frame.image)
    assert ok
    return bytes(data)


# ------------------------------------------------------------------ ocr-client stream


def stream_cli(server: ServerProcess, *argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ocrclient.cli", "stream", *map(str, argv),
                           "--server", server.target], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def clip(video: list[VideoFrame], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(video[:90], tmp_path_factory.mktemp("video") / "clip.avi")


def test_the_cli_prints_each_change_of_text_once(server: ServerProcess, clip: Path,
                                                video: list[VideoFrame]) -> None:
    done = stream_cli(server, clip, "--pace", "max", "--overload", "block",
                      "--dedup-threshold", "0.05")
    assert done.returncode == 0, done.stderr
    printed = [line.split("\t") for line in done.stdout.splitlines()]
    assert [(int(i), normalized(text)) for i, _, text in printed] == [
        (n, normalized(video[n].caption)) for n in (0, 30, 60)]
    assert "90 frames:" in done.stderr and "0 dropped, 0 failed" in done.stderr

    every = stream_cli(server, clip, "--all", "--max-frames", "12", "--encode", "png",
                       "--overload", "block")
    assert every.returncode == 0, every.stderr
    assert [line.split("\t")[:3] for line in every.stdout.splitlines()] == [
        [str(n), f"{n / 15:.2f}s", "processed"] for n in range(12)]


def test_the_cli_draws_an_annotated_video(server: ServerProcess, clip: Path,
                                          tmp_path: Path) -> None:
    import cv2

    out = tmp_path / "annotated.mp4"
    done = stream_cli(server, clip, "--pace", "max", "--overload", "block", "--jsonl",
                      "--draw", out)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["frame_id"] for r in records] == list(range(90))
    capture = cv2.VideoCapture(str(out))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 90
    ok, first = capture.read()
    source = cv2.VideoCapture(str(clip))
    _, original = source.read()
    assert ok and first.shape == original.shape
    assert float(np.abs(first.astype(int) - original.astype(int)).mean()) > 0.5  # boxes drawn


def test_the_cli_reports_a_source_it_cannot_open(server: ServerProcess, tmp_path: Path) -> None:
    done = stream_cli(server, tmp_path / "missing.mp4")
    assert done.returncode == 2 and "cannot open video" in done.stderr


def test_the_cli_refuses_to_draw_over_its_input(server: ServerProcess, clip: Path,
                                                tmp_path: Path) -> None:
    copy = tmp_path / "clip.avi"
    copy.write_bytes(clip.read_bytes())
    done = stream_cli(server, copy, "--pace", "max", "--draw", copy)
    assert done.returncode == 2 and "refusing to overwrite the input" in done.stderr
    assert copy.read_bytes() == clip.read_bytes()


def test_the_cli_reports_a_source_with_no_readable_frame(server: ServerProcess,
                                                         tmp_path: Path) -> None:
    fake = tmp_path / "notes.png"
    fake.write_text("not an image, nor a video\n")
    done = stream_cli(server, fake)
    assert done.returncode == 2 and "no frame could be read" in done.stderr


def test_the_cli_exits_cleanly_when_the_server_refuses_the_stream(
        server: ServerProcess, video: list[VideoFrame], tmp_path: Path) -> None:
    """The refusal arrives while gRPC's thread decodes the next frame inside OpenCV; the
    process used to abort on its way out ("FATAL: exception not rethrown", exit 134)
    in 3 runs of 6 with an mp4 clip."""
    mp4 = write_video(video[:30], tmp_path / "clip.mp4")
    for _ in range(6):
        done = stream_cli(server, mp4, "--box-thresh", "7")
        assert done.returncode == 1, done.stderr
        assert done.stderr.strip().splitlines() == [
            line for line in done.stderr.strip().splitlines() if line.startswith("error:")]
        assert "box_thresh must be in [0, 1]" in done.stderr
