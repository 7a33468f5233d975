"""A soak (``ocr-bench soak``): minutes of mixed traffic with injected faults, then a verdict.

One real server (``--workers 2``, loopback only, the ModelService on a port of its
own) takes, all at once for ``duration_s``:

- unary Ocr, Detect and Recognize calls from a few clients each (:data:`MIX`),
  without client retries, so that every failure the server causes is seen;
- one StreamOcr stream of the generated video (``bench/video.py``), reopened
  whenever it ends or fails;
- a hot swap of the rec slot every ``swap_every_s`` (between the two recognizers
  of ``bench/swap.py``);
- malformed inputs every ``malformed_every_s``: garbage bytes, a PNG header
  declaring 8000x8000 pixels, an empty image;
- one kill -9 of the engine halfway through (the supervisor restarts it).

Meanwhile the RSS of every server process is read every ``sample_every_s``.

Why a verdict rule rather than a report only: a soak is run unattended (``make
soak``), and what it must show is that faults stay contained.  PASS needs all of:
no failure except the expected ones (a malformed input answered INVALID_ARGUMENT;
UNAVAILABLE for a call in flight from the kill until the restarted engine serves,
plus :data:`KILL_GRACE_S`); every malformed input refused with INVALID_ARGUMENT;
the engine restarted after the kill; every process alive and the server answering
an OCR call at the end; each process's last RSS within ``rss_growth`` of its
first reading after the warm-up (the first tenth of the run: buffers of every
shape are allocated then, which is not growth).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from ocrserve.bench.hardening import alive, gray_png, wait_for
from ocrserve.bench.loadgen import threads_until
from ocrserve.bench.memory import process_rss
from ocrserve.bench.spawn import ServerProcess
from ocrserve.bench.swap import MODELS
from ocrserve.bench.video import text_video
from ocrserve.settings import Settings
from ocrserve.supervisor.multiprocess import free_port

#: Clients per unary RPC.
MIX = {"ocr": 2, "detect": 1, "recognize": 1}
#: Seconds after the restarted engine serves during which UNAVAILABLE is still expected.
KILL_GRACE_S = 5.0
STREAM_FPS = 5.0
#: Frames per StreamOcr call before the stream is closed and reopened.
STREAM_FRAMES = 150
MALFORMED: dict[str, bytes] = {
    "garbage": os.urandom(4096),
    "huge-header": gray_png(8000, 8000),
    "empty": b"",
}


@dataclass
class Failure:
    at_s: float
    kind: str
    code: str
    message: str

    @property
    def reason(self) -> str:
        return f"{self.code}: {self.message[:70]}"


@dataclass
class SoakRecord:
    """What the traffic threads saw; every method is safe to call from any thread."""

    started: float = field(default_factory=time.monotonic)
    served: Counter[str] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    malformed: Counter[str] = field(default_factory=Counter)
    rss: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    kills: list[dict[str, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> float:
        return time.monotonic() - self.started

    def serve(self, kind: str, n: int = 1) -> None:
        with self.lock:
            self.served[kind] += n

    def fail(self, kind: str, exc: Any) -> None:
        failure = Failure(round(self.now(), 1), kind, str(getattr(exc, "code", "")) or
                          type(exc).__name__, str(getattr(exc, "details", exc)))
        with self.lock:
            self.failures.append(failure)

    def refuse(self, name: str, code: str) -> None:
        """A malformed input answered with ``code`` (anything but INVALID_ARGUMENT fails)."""
        with self.lock:
            self.malformed[f"{name} -> {code}"] += 1


def soak(images: Sequence[Path], *, duration_s: float = 600.0, swap_every_s: float = 60.0,
         malformed_every_s: float = 10.0, sample_every_s: float = 10.0,
         rss_growth: float = 0.5) -> dict[str, Any]:
    """Run the soak of the module docstring; the JSON document ``ocr-bench soak`` prints."""
    payloads = [p.read_bytes() for p in images]
    admin_port = free_port("127.0.0.1")
    slots = [arg for spec in Settings().slot for arg in ("--slot", spec)]
    record = SoakRecord()
    with ServerProcess(["--workers", "2", "--admin-port", str(admin_port), *slots]) as server:
        record.started = time.monotonic()
        done = threading.Event()
        jobs: list[Callable[[], None]] = [
            *(functools.partial(_unary, server.target, kind, payloads, record, done)
              for kind, clients in MIX.items() for _ in range(clients)),
            functools.partial(_streams, server.target, record, done),
            functools.partial(_swaps, f"127.0.0.1:{admin_port}", swap_every_s, record, done),
            functools.partial(_malformed, server.target, malformed_every_s, record, done),
            functools.partial(_sample_rss, server, sample_every_s, record, done),
        ]
        with _running(jobs, record, done):
            done.wait(duration_s / 2)
            record.kills.append(_kill_engine(server, record))
            done.wait(max(0.0, duration_s - record.now()))
        end = _end_state(server, payloads[0])
    return _report(record, end, duration_s=duration_s, swap_every_s=swap_every_s,
                   malformed_every_s=malformed_every_s, rss_growth=rss_growth)


@contextlib.contextmanager
def _running(jobs: Sequence[Callable[[], None]], record: SoakRecord,
             done: threading.Event) -> Iterator[None]:
    """Each job in a thread of its own; one that dies of an exception is a failure, so that
    traffic that silently stopped cannot pass."""
    def guarded(job: Callable[[], None]) -> None:
        try:
            job()
        except Exception as exc:
            record.fail("traffic thread died", exc)

    with threads_until(done, [functools.partial(guarded, job) for job in jobs], 300):
        yield


def _unary(target: str, kind: str, payloads: Sequence[bytes], record: SoakRecord,
           done: threading.Event) -> None:
    from ocrclient import OcrClient, OcrClientError

    with OcrClient(target, timeout=120, retries=0) as client:
        call = getattr(client, kind)
        for i in itertools.count():
            if done.is_set():
                return
            try:
                (result,) = call([payloads[i % len(payloads)]])
            except OcrClientError as exc:
                record.fail(kind, exc)
                continue
            if result.error is not None:
                record.fail(kind, result.error)
            else:
                record.serve(kind)


def _streams(target: str, record: SoakRecord, done: threading.Event) -> None:
    """StreamOcr calls of :data:`STREAM_FRAMES` frames at :data:`STREAM_FPS`, one after
    another: the frames' statuses are counted (``stream processed``, ``... dropped``)."""
    from ocrclient import Frame, OcrClient, OcrClientError

    video = text_video(60, fps=STREAM_FPS)

    def frames() -> Iterator[Frame]:
        started = time.monotonic()
        for index in range(STREAM_FRAMES):
            if done.wait(max(0.0, started + index / STREAM_FPS - time.monotonic())):
                return
            yield Frame(video[index % len(video)].image, index, index / STREAM_FPS)

    with OcrClient(target, timeout=None, retries=0) as client:
        while not done.is_set():
            try:
                for result in client.stream(frames(), overload="latest"):
                    if result.error is not None:
                        record.fail("stream", result.error)
                    else:
                        record.serve(f"stream {result.status}")
            except OcrClientError as exc:
                record.fail("stream", exc)
                done.wait(1.0)


def _swaps(admin_target: str, every_s: float, record: SoakRecord,
           done: threading.Event) -> None:
    from ocrclient import OcrClientError
    from ocrclient.admin import AdminClient

    with AdminClient(admin_target, timeout=600) as admin:
        for n in itertools.count():
            if done.wait(every_s):
                return
            try:
                admin.swap_slot("rec", MODELS[n % len(MODELS)])
            except OcrClientError as exc:
                record.fail("swap", exc)
            else:
                record.serve("swap")


def _malformed(target: str, every_s: float, record: SoakRecord,
               done: threading.Event) -> None:
    """The inputs go through the raw stub: the client library refuses some of them
    (an empty image) before they reach the wire, and the server is what is tested."""
    from ocrclient.proto.ocr.v1 import ocr_pb2, ocr_pb2_grpc

    codes = {code.value[0]: code.name for code in grpc.StatusCode}
    with grpc.insecure_channel(target) as channel:
        stub = ocr_pb2_grpc.OcrServiceStub(channel)
        for name in itertools.cycle(MALFORMED):
            if done.wait(every_s):
                return
            request = ocr_pb2.OcrRequest(images=[ocr_pb2.Image(encoded=MALFORMED[name])])
            try:
                (result,) = stub.Ocr(request, timeout=60).results
            except grpc.RpcError as exc:
                code, message = exc.code().name, exc.details() or ""
            else:
                code = codes[result.error.code] if result.HasField("error") else "OK"
                message = result.error.message
            record.refuse(name, code)
            if code != "INVALID_ARGUMENT":
                record.fail(f"malformed {name}", _Answer(code, message))


@dataclass
class _Answer:
    """A gRPC answer read from the raw stub, shaped like the client's errors."""

    code: str
    details: str


def _sample_rss(server: ServerProcess, every_s: float, record: SoakRecord,
                done: threading.Event) -> None:
    while True:
        with contextlib.suppress(FileNotFoundError, ValueError):  # a child restarting
            sample = process_rss(server)
            with record.lock:
                record.rss.append((round(record.now(), 1), sample))
        if done.wait(every_s):
            return


def _kill_engine(server: ServerProcess, record: SoakRecord) -> dict[str, float]:
    """kill -9 of the engine; returns when its successor serves (times from the start)."""
    engine = server.child_pids()["engine-cpu"]
    os.kill(engine, signal.SIGKILL)
    killed_at = record.now()
    wait_for(lambda: server.child_pids()["engine-cpu"] != engine, timeout=300)
    wait_for(lambda: server.health() == "SERVING", timeout=300)
    return {"pid": engine, "killed_at_s": round(killed_at, 1),
            "serving_at_s": round(record.now(), 1),
            "new_pid": server.child_pids()["engine-cpu"]}


def _end_state(server: ServerProcess, payload: bytes) -> dict[str, Any]:
    """After the traffic: which processes are alive, and whether an OCR call succeeds."""
    from ocrclient import OcrClient, OcrClientError

    assert server.proc is not None
    pids = {"supervisor": server.proc.pid, **server.child_pids()}
    try:
        with OcrClient(server.target, timeout=60, retries=0) as client:
            answered = client.ocr_one(payload).error is None
    except OcrClientError:
        answered = False
    return {"alive": {name: alive(pid) for name, pid in pids.items()}, "answered": answered}


def _expected(failure: Failure, kills: Sequence[dict[str, float]]) -> bool:
    return failure.code == "UNAVAILABLE" and any(
        kill["killed_at_s"] <= failure.at_s <= kill["serving_at_s"] + KILL_GRACE_S
        for kill in kills)


def _rss_summary(samples: Sequence[tuple[float, dict[str, float]]], warm_until_s: float,
                 growth: float) -> dict[str, dict[str, Any]]:
    """Per process: first, first after the warm-up, max and last RSS (MiB), and whether
    the last is within ``growth`` of the first after the warm-up."""
    summary: dict[str, dict[str, Any]] = {}
    names = {name for _, sample in samples for name in sample}
    for name in sorted(names):
        series = [(at, sample[name]) for at, sample in samples if name in sample]
        warm = next((mb for at, mb in series if at >= warm_until_s), series[-1][1])
        last = series[-1][1]
        summary[name] = {"first": round(series[0][1]), "warm": round(warm),
                         "max": round(max(mb for _, mb in series)), "last": round(last),
                         "bounded": last <= warm * (1 + growth)}
    return summary


def _report(record: SoakRecord, end: dict[str, Any], *, duration_s: float,
            swap_every_s: float, malformed_every_s: float, rss_growth: float) -> dict[str, Any]:
    unexpected = [f for f in record.failures
                  if not f.kind.startswith("malformed") and not _expected(f, record.kills)]
    rss = _rss_summary(record.rss, duration_s / 10, rss_growth)
    refused = sum(n for key, n in record.malformed.items() if key.endswith("INVALID_ARGUMENT"))
    rules = {
        "no unexpected failures": not unexpected,
        "malformed inputs refused with INVALID_ARGUMENT":
            refused > 0 and refused == sum(record.malformed.values()),
        "engine restarted after kill -9": bool(record.kills) and all(
            k["new_pid"] != k["pid"] for k in record.kills),
        "all processes alive at the end": all(end["alive"].values()),
        "server answers at the end": end["answered"],
        f"RSS last within +{rss_growth:.0%} of warm": bool(rss) and all(
            r["bounded"] for r in rss.values()),
    }
    return {
        "duration_s": duration_s, "swap_every_s": swap_every_s,
        "malformed_every_s": malformed_every_s, "mix": MIX, "stream_fps": STREAM_FPS,
        "served": dict(sorted(record.served.items())),
        "failures": dict(Counter(f"{f.kind} {f.reason}" for f in record.failures)),
        "unexpected_failures": [vars(f) for f in unexpected[:10]],
        "malformed": dict(record.malformed), "kills": record.kills,
        "rss_series": record.rss, "rss": rss, "end": end, "rules": rules,
        "verdict": "PASS" if all(rules.values()) else "FAIL",
    }


def soak_table(doc: dict[str, Any]) -> str:
    """The markdown ``ocr-bench soak`` prints and writes into BENCHMARKS.md."""
    names = list(doc["rss"])
    lines = ["| served | count |", "|---|---|"]
    lines += [f"| {kind} | {n} |" for kind, n in doc["served"].items()]
    lines += ["", "| failure (kind, gRPC code: message) | count |", "|---|---|"]
    lines += [f"| {reason} | {n} |" for reason, n in doc["failures"].items()] or ["| none | 0 |"]
    lines += ["", "| malformed input -> answer | count |", "|---|---|"]
    lines += [f"| {key} | {n} |" for key, n in doc["malformed"].items()]
    lines += ["", "| t (s) | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    lines += [f"| {at:.0f} | " + " | ".join(f"{sample.get(n, 0):.0f}" for n in names) + " |"
              for at, sample in doc["rss_series"]]
    lines += ["", "| RSS (MiB) | first | after warm-up | max | last | bounded |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {name} | {r['first']} | {r['warm']} | {r['max']} | {r['last']} | "
              f"{'yes' if r['bounded'] else 'NO'} |" for name, r in doc["rss"].items()]
    kills = "; ".join(f"engine pid {k['pid']} killed at {k['killed_at_s']} s, pid "
                      f"{k['new_pid']} serving at {k['serving_at_s']} s" for k in doc["kills"])
    lines += ["", f"{doc['duration_s']:.0f} s of mixed traffic (unary clients {doc['mix']}, "
                  f"one stream at {doc['stream_fps']:g} fps, a rec swap every "
                  f"{doc['swap_every_s']:g} s, a malformed input every "
                  f"{doc['malformed_every_s']:g} s); {kills}.", "",
              "| rule | held |", "|---|---|"]
    lines += [f"| {rule} | {'yes' if held else 'NO'} |" for rule, held in doc["rules"].items()]
    lines += ["", f"Verdict: **{doc['verdict']}**"]
    return "\n".join(lines)
