"""The hardening issue's findings, each as a bounded scenario with figures.

Every function drives a real server (a :class:`ServerProcess`, loopback only)
through one finding and returns what it measured as a plain dict.
``tests/integration/test_hardening.py`` asserts on these figures and
``ocr-bench hardening`` prints them (BENCHMARKS.md), so what is tested and what
is reported are the same runs of the same code.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import grpc
import numpy as np

from ocrserve.bench.memory import process_rss, rss_mb
from ocrserve.bench.spawn import ServerProcess

Figures = dict[str, Any]

#: The flags of the shared server: a small pixel budget, so that the limits are
#: reached with few images.
SERVER_ARGS = ("--workers", "1", "--max-request-pixels", "16000000",
               "--max-inflight-pixels", "32000000")


# ------------------------------------------------------------------- helpers

def alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> float:
    """Poll ``predicate`` (a gRPC error counts as not yet) until true; seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if predicate():
                return time.monotonic() - started
        except grpc.RpcError:  # e.g. the only front-end is restarting
            pass
        time.sleep(0.02)
    raise TimeoutError("condition not met")


def gray_png(width: int, height: int) -> bytes:
    """A valid white grayscale PNG, compressed row by row (never held decoded)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    packer = zlib.compressobj(9)
    row = b"\x00" + b"\xff" * width  # filter byte, then the pixels
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body)
            + chunk(b"IEND", b""))


def png(img: np.ndarray) -> bytes:
    return bytes(cv2.imencode(".png", img)[1])


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


class Load:
    """``threads`` clients calling ``call(client)`` in a loop until stopped; counts."""

    def __init__(self, target: str, call: Callable[[Any], object], threads: int, *,
                 timeout: float = 30.0, retries: int | None = 0) -> None:
        from ocrclient import OcrClient

        self.served = 0
        self.failures: list[str] = []
        self._done = threading.Event()

        def loop() -> None:
            kwargs: dict[str, Any] = {"timeout": timeout}
            if retries is not None:
                kwargs["retries"] = retries
            with OcrClient(target, **kwargs) as client:
                while not self._done.is_set():
                    try:
                        call(client)
                        self.served += 1
                    except Exception as exc:
                        self.failures.append(str(exc))

        self._threads = [threading.Thread(target=loop) for _ in range(threads)]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._done.set()
        for thread in self._threads:
            thread.join(120)


# ------------------------------------------------- 1, 2: limits checked before work

def tiny_request_huge_detector_input(server: ServerProcess) -> Figures:
    """A 100x100 PNG asking for limit_side_len=20000, limit_type=min, and a thin
    banner whose aspect ratio would blow up a detector input within the side limit."""
    from ocrclient import InvalidArgument, OcrClient

    frontend = server.child_pids()["frontend-0"]
    before = rss_mb(frontend)
    tiny = png(np.full((100, 100, 3), 255, np.uint8))
    banner = png(np.full((40, 2000, 3), 255, np.uint8))
    figures: Figures = {"request_bytes": len(tiny)}
    with OcrClient(server.target, timeout=30, retries=0) as client:
        started = time.monotonic()
        try:
            client.ocr([tiny], limit_side_len=20000, limit_type="min")
        except InvalidArgument as exc:
            figures |= {"reason": exc.reason, "limit": exc.metadata.get("limit")}
        figures["refused_ms"] = _ms(time.monotonic() - started)
        (result,) = client.ocr([banner], limit_side_len=2000, limit_type="min")
        figures["banner_reason"] = result.error.reason if result.error else None
    figures["frontend_rss_delta_mb"] = round(rss_mb(frontend) - before, 1)
    return figures


def tiny_image_large_detector_input(server: ServerProcess) -> Figures:
    """A 1x1 PNG (67 bytes) with limit_type=min, limit_side_len=4096: its detector input
    is 4096x4096, 16.8 MP, within the detector's limits but over the 16 MP request
    budget.  Admission counted the 1 pixel of its header, and the engine ran it."""
    from ocrclient import InvalidArgument, OcrClient

    engine = server.child_pids()["engine-cpu"]
    before = rss_mb(engine)
    tiny = png(np.full((1, 1, 3), 255, np.uint8))
    figures: Figures = {"request_bytes": len(tiny)}
    with OcrClient(server.target, timeout=60, retries=0) as client:
        try:
            client.ocr([tiny], limit_side_len=4096, limit_type="min")
            figures["reason"] = None
        except InvalidArgument as exc:
            figures |= {"reason": exc.reason, "metadata": exc.metadata}
    figures["engine_rss_delta_mb"] = round(rss_mb(engine) - before, 1)
    return figures


def header_bomb(server: ServerProcess, side: int = 8000) -> Figures:
    """A valid PNG declaring side x side pixels, over max_image_pixels."""
    from ocrclient import OcrClient

    frontend = server.child_pids()["frontend-0"]
    bomb = gray_png(side, side)
    before = rss_mb(frontend)
    with OcrClient(server.target, timeout=30, retries=0) as client:
        started = time.monotonic()
        (result,) = client.detect([bomb])
        elapsed = time.monotonic() - started
    error = result.error
    return {"bytes": len(bomb), "declared_pixels": side * side,
            "reason": error.reason if error else None,
            "value": error.metadata.get("value") if error else None,
            "refused_ms": _ms(elapsed),
            "frontend_rss_delta_mb": round(rss_mb(frontend) - before, 1)}


def lying_header(server: ServerProcess) -> Figures:
    """A PNG whose header is valid and whose data is garbage."""
    from ocrclient import OcrClient

    lying = gray_png(30, 30)[:33] + b"garbage"
    with OcrClient(server.target, timeout=30, retries=0) as client:
        (result,) = client.ocr([lying])
    error = result.error
    return {"reason": error.reason if error else None,
            "message": error.details if error else None}


# --------------------------------------------- 3: requests that cannot hurt each other

def request_over_budget(server: ServerProcess, images: int = 64) -> Figures:
    """``images`` pages of 2000x2000 in one request (256 MP at 64)."""
    from ocrclient import InvalidArgument, OcrClient

    page = png(np.full((2000, 2000, 3), 255, np.uint8))
    figures: Figures = {"images": images, "message_mb": round(len(page) * images / 2**20, 1)}
    with OcrClient(server.target, timeout=60, retries=0) as client:
        started = time.monotonic()
        try:
            client.ocr([page] * images)
            figures["reason"] = None
        except InvalidArgument as exc:
            figures |= {"reason": exc.reason, "metadata": exc.metadata}
        figures["refused_ms"] = _ms(time.monotonic() - started)
    return figures


def large_and_small_together(server: ServerProcess, pages: Sequence[Path],
                             small: Path) -> Figures:
    """The largest request the limits allow (4 pages of 2000x2000 = 16 MP), and a
    one-image request sent once the large one's first page has been through the
    detector: the large one still has three pages and every line ahead of it.  (A
    fixed second's wait raced it: on a fast CPU the whole large request took about a
    second, ``large_s`` in BENCHMARKS.md.)"""
    from ocrclient import OcrClient

    large = [png(cv2.resize(cv2.imread(str(p)), (2000, 2000))) for p in pages[:4]]
    finished: list[str] = []
    seconds: dict[str, float] = {}
    outcome: dict[str, Any] = {}

    def send_large() -> None:
        with OcrClient(server.target, timeout=300, retries=0) as client:
            outcome["large"] = client.ocr(large)
        seconds["large"] = time.monotonic() - sent
        finished.append("large")

    with OcrClient(server.target, timeout=300, retries=0) as client:
        before = _detector_items(client)
        thread = threading.Thread(target=send_large)
        sent = time.monotonic()
        thread.start()
        while _detector_items(client) == before and thread.is_alive():
            time.sleep(0.005)
        outcome["small"] = client.ocr_one(small.read_bytes())
        seconds["small"] = time.monotonic() - sent
        finished.append("small")
        thread.join(300)
        rejected = sum(s.rejected_full for s in client.list_slots())
    return {"finished": finished, "small_s": round(seconds["small"], 2),
            "large_s": round(seconds["large"], 2),
            "large_failed_images": sum(r.error is not None for r in outcome["large"]),
            "small_lines": len(outcome["small"].lines), "rejected_full": rejected}


def _detector_items(client: Any) -> int:
    """Items the server's detector slots have run."""
    return sum(s.batched_items for s in client.list_slots() if s.kind == "det")


def timed_out_work(server: ServerProcess, page: Path, threads: int = 8,
                   seconds: float = 6.0, deadline_s: float = 0.5) -> Figures:
    """``threads`` callers with ``deadline_s`` deadlines on an A4 page for ``seconds``:
    how many model runs served requests that had already timed out."""
    from ocrclient import DeadlineExceeded, OcrClient, ResourceExhausted

    data = page.read_bytes()
    with OcrClient(server.target, timeout=120) as client:
        # The engine learns how long a batch of this shape takes; the page's lines are
        # the recognizer work one request needs.
        lines_per_page = len(client.ocr_one(data).lines)
        before = {s.slot: s for s in client.list_slots()}
    outcomes: list[str] = []
    stop_at = time.monotonic() + seconds

    def caller() -> None:
        with OcrClient(server.target, timeout=deadline_s, retries=0) as client:
            while time.monotonic() < stop_at:
                try:
                    client.ocr_one(data)
                    outcomes.append("ok")
                except DeadlineExceeded:
                    outcomes.append("deadline")
                except ResourceExhausted:  # admission: the pages exceed the budget
                    outcomes.append("overloaded")

    workers = [threading.Thread(target=caller) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    time.sleep(1.0)
    with OcrClient(server.target) as client:
        after = {s.slot: s for s in client.list_slots()}
    return {"requests": len(outcomes), "ok": outcomes.count("ok"),
            "deadline": outcomes.count("deadline"),
            "overloaded": outcomes.count("overloaded"),
            "det_items_run": after["det"].batched_items - before["det"].batched_items,
            "rec_items_run": after["rec"].batched_items - before["rec"].batched_items,
            "lines_per_page": lines_per_page,
            "det_dropped_deadline": after["det"].dropped_deadline
            - before["det"].dropped_deadline}


# ------------------------------------------------ 4, 7: health, restarts, retries

def engine_restart_under_load(server: ServerProcess, image: Path) -> Figures:
    """kill -9 of the engine while three clients without retries call OCR."""
    from ocrclient.client import OcrClient

    data = image.read_bytes()
    states: list[str] = []
    watching = threading.Event()

    def watch() -> None:
        while not watching.is_set():
            try:
                states.append(server.health(0.5))
            except grpc.RpcError:
                states.append("UNREACHABLE")
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    load = Load(server.target, lambda c: OcrClient.ocr_one(c, data), threads=3, retries=0)
    try:
        wait_for(lambda: load.served > 0)
        engine = server.child_pids()["engine-cpu"]
        served_before = load.served
        os.kill(engine, signal.SIGKILL)
        killed_at = time.monotonic()
        wait_for(lambda: server.child_pids()["engine-cpu"] != engine)
        wait_for(lambda: server.health() == "SERVING")
        back_s = time.monotonic() - killed_at
        wait_for(lambda: load.served > served_before + 3)
    finally:
        load.stop()
        watching.set()
        watcher.join()
    runs = [(state, len(list(group))) for state, group in itertools.groupby(states)]
    not_serving = sum(n for state, n in runs if state == "NOT_SERVING")
    return {"health_runs": [state for state, _ in runs],
            "not_serving_polls": not_serving, "served_back_s": round(back_s, 2),
            "served": load.served, "failures": len(load.failures),
            "first_failure": load.failures[0] if load.failures else None}


def frontend_restart_default_retries(server: ServerProcess, image: Path) -> Figures:
    """kill -9 of the only front-end while two clients with default retries call OCR."""
    from ocrclient.client import OcrClient

    data = image.read_bytes()
    load = Load(server.target, lambda c: OcrClient.ocr_one(c, data), threads=2,
                timeout=60, retries=None)
    try:
        wait_for(lambda: load.served > 0)
        frontend = server.child_pids()["frontend-0"]
        served_before = load.served
        os.kill(frontend, signal.SIGKILL)
        back_s = wait_for(lambda: server.child_pids()["frontend-0"] != frontend
                          and server.health() == "SERVING")  # seconds since the kill
        wait_for(lambda: load.served > served_before + 2)
    finally:
        load.stop()
    return {"serving_again_s": round(back_s, 2), "served": load.served,
            "failures": len(load.failures),
            "first_failure": load.failures[0] if load.failures else None}


# ---------------------------------------------------- 5, 6: shutdown and orphans

def sigterm_drain(env: dict[str, str], page: Path, small: Path,
                  drain_delay_s: float = 3.0) -> Figures:
    """SIGTERM with three A4 pages in flight: health, new calls during and after the
    drain delay, the in-flight results and the exit code."""
    from ocrclient import OcrClient, OcrClientError

    a4, sign = page.read_bytes(), small.read_bytes()
    figures: Figures = {}
    with ServerProcess(["--workers", "2", "--drain-delay-s", str(drain_delay_s),
                        "--grace-period-s", "120"], env=env) as proc:
        results: list[int] = []

        def in_flight() -> None:
            with OcrClient(proc.target, timeout=120, retries=0) as client:
                results.append(len(client.ocr_one(a4).lines))

        threads = [threading.Thread(target=in_flight) for _ in range(3)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        assert proc.proc is not None
        proc.proc.send_signal(signal.SIGTERM)
        figures["not_serving_after_ms"] = _ms(wait_for(lambda: proc.health() == "NOT_SERVING",
                                                       timeout=5.0))
        with OcrClient(proc.target, timeout=30, retries=0) as client:
            figures["accepted_during_delay"] = bool(client.ocr_one(sign).lines)
        time.sleep(drain_delay_s + 0.5)
        try:
            with OcrClient(proc.target, timeout=5, retries=0) as client:
                client.ocr_one(sign)
            figures["after_delay"] = "accepted"
        except OcrClientError as exc:
            figures["after_delay"] = exc.code
        for thread in threads:
            thread.join(120)
        figures["exit_code"] = proc.stop(timeout=180)
    figures["in_flight_completed"] = len(results)
    figures["in_flight_lines"] = results
    return figures


def supervisor_killed(env: dict[str, str]) -> Figures:
    """kill -9 of the supervisor; before that, a second server on its port."""
    proc = ServerProcess(["--workers", "2", "--drain-delay-s", "0"], env=env)
    proc.start()
    figures: Figures = {}
    try:
        pids = proc.child_pids()
        socket_dir = Path(re.findall(r"engine sockets in (\S+)", proc.log())[0])
        for mode in ("1", "0"):  # multi-process, then single-process
            second = subprocess.run(
                [sys.executable, "-m", "ocrserve.cli", "--host", "127.0.0.1", "--port",
                 str(proc.port), "--workers", mode],
                env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
            figures[f"second_server_workers_{mode}"] = {
                "exit": second.returncode, "refused": "cannot serve on" in second.stderr,
                "traceback": "Traceback" in second.stderr}
        figures["rss_mb"] = {name: round(mb) for name, mb in process_rss(proc).items()}
    finally:
        assert proc.proc is not None
        proc.proc.kill()
        proc.proc.wait()
    figures["children_gone_s"] = round(
        wait_for(lambda: not any(alive(pid) for pid in pids.values()), timeout=60), 2)
    figures["socket_dir_removed"] = wait_for(lambda: not socket_dir.exists(), timeout=10) >= 0
    with ServerProcess(["--workers", "1"], env=env) as again:
        figures["port_reusable"] = again.health() == "SERVING"
    return figures


# --------------------------------------------------------- 10: one line per failure

def failure_log_lines(server: ServerProcess, page: Path) -> Figures:
    """A refused request and a timed-out one, each with its own request id."""
    from ocrclient import DeadlineExceeded, InvalidArgument, OcrClient

    with OcrClient(server.target, retries=0) as client:
        with contextlib.suppress(InvalidArgument):
            client.ocr([b"x"], box_thresh=3.0, request_id="refused-1")
        with contextlib.suppress(DeadlineExceeded):
            client.ocr([page.read_bytes()], timeout=0.3, request_id="late-1")

    def lines(request_id: str) -> list[str]:
        return [line for line in server.log().splitlines() if f"[{request_id}]" in line]

    # The front-end writes its line when it notices; on a loaded machine that can trail
    # the client's own deadline by a while.
    give_up = time.monotonic() + 10
    while not (lines("refused-1") and lines("late-1")) and time.monotonic() < give_up:
        time.sleep(0.1)
    time.sleep(0.5)  # a second line for either request would show up here
    refused, late = lines("refused-1"), lines("late-1")
    return {"refused_lines": refused, "late_lines": late,
            "tracebacks": server.log().count("Traceback")}


# ------------------------------------------------------------------- the report

def run_all(images: Sequence[Path], env: dict[str, str] | None = None) -> list[Figures]:
    """Every scenario, in the issue's order: [{"finding", "scenario", "figures"}]."""
    env = env or {}
    page = next(p for p in images if "a4" in p.name)
    small = next(p for p in images if p.name == "signs_800x600.png")
    rows: list[Figures] = []

    def record(finding: str, scenario: Callable[..., Figures], *args: Any) -> None:
        rows.append({"finding": finding, "scenario": scenario.__name__,
                     "figures": scenario(*args)})

    with ServerProcess(list(SERVER_ARGS), env=env) as server:
        record("1", tiny_request_huge_detector_input, server)
        record("1", tiny_image_large_detector_input, server)
        record("2", header_bomb, server)
        record("2", lying_header, server)
        record("3", request_over_budget, server)
        record("3", large_and_small_together, server, images, small)
        record("8", timed_out_work, server, page)
        record("4", engine_restart_under_load, server, small)
        record("7", frontend_restart_default_retries, server, small)
        record("10", failure_log_lines, server, page)
    record("5", sigterm_drain, env, page, small)
    record("6", supervisor_killed, env)
    return rows
