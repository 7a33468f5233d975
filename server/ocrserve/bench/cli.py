"""``ocr-bench``: measure the core pipeline and the server against PaddleOCR.

    ocr-bench core  [--model-set v2-onnx|v4-paddle|v4-onnx] [--reference-python PY]
                    [--peer paddleocr|rapidocr] [--server-flags F] [--versus F]
        In-process pipeline, one image at a time, and a peer's pipeline
        (PaddleOCR's own, or RapidOCR's on ONNX sets) on the same images and
        models in the same run: images/s and per-stage times for both.
        --versus runs our pipeline a second time with other server flags
        (e.g. fp16 against fp32) and reports the lines both read alike.

    ocr-bench load  --server HOST:PORT | --spawn "SERVER FLAGS"
                    [--rpc ocr|detect|recognize|classify]
                    [--concurrency 1,2,4,8,16 | --rate R] [--duration S]
                    [--reference-python PY --model-set NAME --peer paddleocr|rapidocr]
        Closed-loop sweep (or open loop at a fixed rate) like perf_analyzer:
        throughput, p50/p90/p99 latency, errors and the recognizer's mean
        batch per step; from the server's /metrics, the CPU each image cost
        and the models' own time per image, how busy they kept the inference
        thread and the images/s that allows; optionally a peer's sequential
        pipeline as the baseline, with the server's throughput and latency
        relative to it. A spawned server serves the model set's models
        (unless its flags name slots).

    ocr-bench runtimes [--model KIND ...] [--backend NAME ...] [--repeat 15]
        Every backend on every model kind (bench/runtimes.py): first call
        and warm median per input shape, and the largest output difference
        from the format's native backend.

    ocr-bench ceiling [--model-set NAME] [--backend B] [--device cuda:0]
                    [--det-batch 8 --cls-batch 64 --rec-batch 64] [--lines 10]
        The bare batched-model ceiling (bench/ceiling.py): det + cls + rec at
        those batch sizes, no server, as images/s of a 720p page with that
        many lines; what full OCR through the server is held against. Each
        model's GFLOP per batch and the rate it ran at, beside OpenVINO's own
        dense fp32 multiply on the same threads (bench/flops.py).

    ocr-bench transport
        Round-trip cost of the tensors a request moves between a front-end
        and an engine process (Unix socket, no pickling).

    ocr-bench hardening
        The hardening issue's findings, each a bounded scenario against real
        servers on loopback (bench/hardening.py), and what each measured.

    ocr-bench memory [--spawn "SERVER FLAGS"] [--requests 20000] [--warm 500]
        RSS of every server process: fresh, warm, after a burst of large
        inputs, settled, and after a long run of random sizes and aspect
        ratios (bench/memory.py), with the hardening issue's verdicts.

    ocr-bench soak [--duration 600] [--swap-every 60] [--malformed-every 10]
        Mixed unary, streaming and admin (swap) traffic on a spawned server with
        injected faults (malformed inputs, kill -9 of the engine): requests
        served, failures by reason, RSS of every process over time, and a
        PASS/FAIL verdict (bench/soak.py).

``--json`` prints one JSON document instead of the tables; ``--update FILE``
rewrites that file's section for the command between generated markers.

Model sets: ``v2-onnx`` and ``v4-paddle`` are installed models; ``v4-onnx`` is
v4-paddle after paddle2onnx, converted once (with the reference venv given by
``--reference-python``) into ./.cache/converted-models and reused from there.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shlex
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ocrserve.bench.compare import Line, aggregate, match_lines
from ocrserve.bench.cpu_report import (
    CpuSample,
    cpu_per_image,
    cpu_table,
    memory_line,
    model_table,
    model_time,
    resident_mib,
    scrape,
)
from ocrserve.bench.fidelity import (
    BENCH_MODEL_SETS,
    MODEL_SETS,
    PEERS,
    ModelSet,
    model_set_repository,
    run_reference,
)
from ocrserve.bench.images import IMAGE_SETS, generate_image_set
from ocrserve.bench.loadgen import StepResult, closed_loop, open_loop
from ocrserve.bench.report import machine_description, update_section
from ocrserve.errors import OcrError
from ocrserve.models.repository import ModelRepository, default_root

#: where the generated image sets go, relative to the working directory like ./models
CACHE = Path(".cache")


def image_set_folder(name: str) -> Path:
    """``.cache/images`` for the default set (the tests' too), ``.cache/images-NAME`` else."""
    return CACHE / ("images" if name == "mixed" else f"images-{name}")


def _int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def _images(args: argparse.Namespace) -> list[Path]:
    """The images of ``--images FOLDER``, or else the generated ``--image-set``."""
    if args.images:
        paths = sorted(p for p in Path(args.images).iterdir()
                       if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif"))
        if not paths:
            raise SystemExit(f"no images in {args.images}")
        return paths
    return generate_image_set(image_set_folder(args.image_set), args.image_set)


def _repository(model_set: str, reference_python: str | None) -> ModelRepository:
    """Where ``model_set``'s models are (converting them first for a converted set)."""
    try:
        return model_set_repository(BENCH_MODEL_SETS[model_set], ModelRepository(default_root()),
                                    Path(reference_python) if reference_python else None)
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc


def _check_peer(peer: str, model_set: ModelSet) -> None:
    if peer == "rapidocr" and model_set.format != "onnx":
        raise SystemExit(f"the rapidocr peer runs ONNX models; model set {model_set.name} is "
                         f"{model_set.format} (try v4-onnx)")


def _run_peer(peer: str, model_set: str, repo: ModelRepository, python: str,
              images: list[Path], repeat: int = 1, warmup: int = 1) -> dict[str, Any]:
    """The peer's pipeline, one image at a time, on ``images`` after ``warmup`` untimed
    passes: the runner's JSON plus how tables name it."""
    ref = run_reference(Path(python), BENCH_MODEL_SETS[model_set].models(repo), images,
                        repeat=repeat, warmup=warmup, pipeline=peer)
    version = ref.get("version") or ref.get("paddleocr", "")
    return {**ref, "label": f"{PEERS[peer]} {version}".strip()}


# ---------------------------------------------------------------------- core

async def _core_ours(model_set: str, repo: ModelRepository, images: list[Path], repeat: int,
                     flags: str = "") -> tuple[dict[str, Any], list[list[Line]]]:
    """Timings of our pipeline with ocr-server ``flags`` (besides the model set's slots),
    and the lines of its warm-up pass per image."""
    from ocrserve.engine.engine import Engine
    from ocrserve.ops.image import decode_image
    from ocrserve.pipeline import OcrParams, Pipeline, Timings
    from ocrserve.settings import Settings

    slots = [f"--slot={slot}" for slot in BENCH_MODEL_SETS[model_set].slots()]
    # In process nothing is served: a loopback host spares validation the admin-token rule.
    base = ["--host=127.0.0.1", f"--model-repository={repo.root}", *slots]
    settings = Settings.load([*base, *shlex.split(flags)], env={})
    engine = Engine.from_settings(settings, settings.device_list[0])  # in process: one
    started = time.perf_counter()
    await engine.start()
    load_s = time.perf_counter() - started
    pipeline = Pipeline(engine)
    decoded = [decode_image(p.read_bytes()) for p in images]
    warm = await asyncio.gather(*(pipeline.ocr(img, OcrParams()) for img in decoded))
    per_image: list[float] = []
    stages = {"det": 0.0, "cls": 0.0, "rec": 0.0}
    for _ in range(repeat):
        for img in decoded:
            timings = Timings()
            t0 = time.perf_counter()
            await pipeline.ocr(img, OcrParams(), timings=timings)
            per_image.append(time.perf_counter() - t0)
            for stage in stages:
                stages[stage] += getattr(timings, f"{stage}_ms") / 1000 / repeat
    await engine.close()
    total = sum(per_image) / repeat
    lines = [[Line(x.points, x.text, x.score) for x in result.value] for result in warm]
    return {"images_per_s": len(images) / total, "total_s": total, "load_s": load_s,
            "stage_s": stages, "flags": flags}, lines


def _fidelity(ours: list[list[Line]], versus: list[list[Line]]) -> dict[str, Any]:
    """How many of the ``--versus`` run's lines ours reproduced (same text, IoU >= 0.9),
    and the score differences of those pairs."""
    report = aggregate(match_lines(o, v) for o, v in zip(ours, versus, strict=True))
    return {"versus_lines": report.total, "our_lines": report.ours, "identical": report.found,
            "mean_abs_score_diff": report.mean_abs_score_diff,
            "max_abs_score_diff": report.max_abs_score_diff}


def cmd_core(args: argparse.Namespace) -> dict[str, Any]:
    images = _images(args)
    if args.reference_python:
        for name in args.model_set:
            _check_peer(args.peer, BENCH_MODEL_SETS[name])
    rows = []
    for name in args.model_set:
        repo = _repository(name, args.reference_python)
        ours, our_lines = asyncio.run(_core_ours(name, repo, images, args.repeat,
                                                 args.server_flags))
        row: dict[str, Any] = {"model_set": name, "images": len(images), "ours": ours}
        if args.versus is not None:
            versus, versus_lines = asyncio.run(_core_ours(name, repo, images, args.repeat,
                                                          args.versus))
            row["versus"] = versus
            row["fidelity"] = _fidelity(our_lines, versus_lines)
        if args.reference_python:
            ref = _run_peer(args.peer, name, repo, args.reference_python, images, args.repeat)
            row["peer"] = {"pipeline": args.peer, "label": ref["label"],
                           "images_per_s": len(images) / ref["total_seconds"],
                           "total_s": ref["total_seconds"], "load_s": ref["load_seconds"],
                           "stage_s": ref["stage_seconds"]}
        rows.append(row)
    return {"command": "core", "rows": rows}


def core_table(doc: dict[str, Any]) -> str:
    lines = ["| model set | pipeline | images/s | det s | cls s | rec s | total s |",
             "|---|---|---|---|---|---|---|"]
    for row in doc["rows"]:
        for who in ("ours", "versus", "peer"):
            if who in row:
                r = row[who]
                stage = r["stage_s"]
                name = r["label"] if who == "peer" else f"{who} {r['flags']}".strip()
                lines.append(f"| {row['model_set']} | {name} | {r['images_per_s']:.2f} | "
                             f"{stage.get('det', 0):.2f} | {stage.get('cls', 0):.2f} | "
                             f"{stage.get('rec', 0):.2f} | {r['total_s']:.2f} |")
    for row in doc["rows"]:
        if "fidelity" in row:
            f = row["fidelity"]
            lines.append(f"\n{row['model_set']}: ours reproduced {f['identical']}/"
                         f"{f['versus_lines']} lines of versus (same text, IoU >= 0.9; ours "
                         f"returned {f['our_lines']}), |score diff| mean "
                         f"{f['mean_abs_score_diff']:.2e} max {f['max_abs_score_diff']:.2e}")
    return "\n".join(lines)


# ---------------------------------------------------------------------- load

def spawn_flags(spawn: str, model_set: ModelSet, repo: ModelRepository) -> list[str]:
    """``spawn``'s flags, plus the slots (and repository) of ``model_set`` unless they name
    slots already, so that the server runs the models its peer runs.  The default slots
    are the v2-onnx set."""
    flags = shlex.split(spawn)
    if model_set.name == "v2-onnx" or any(f == "--slot" or f.startswith("--slot=")
                                          for f in flags):
        return flags
    extra = [f"--slot={slot}" for slot in model_set.slots()]
    if model_set.converted_from is not None:
        extra.append(f"--model-repository={repo.root}")
    return flags + extra


class _Target:
    """Where the load goes: an address, or a server this command starts and stops."""

    def __init__(self, server: str | None, spawn: Sequence[str] | None,
                 metrics_url: str | None = None) -> None:
        self.proc: Any = None
        #: The server's /metrics, for the CPU report; None: no report.
        self.metrics_url = metrics_url
        if spawn is not None:
            from ocrserve.bench.spawn import ServerProcess

            self.proc = ServerProcess(spawn)
            self.proc.start()
            self.address = self.proc.target
            self.metrics_url = metrics_url or self.proc.metrics_url
        elif server:
            self.address = server
        else:
            raise SystemExit("give --server HOST:PORT or --spawn 'SERVER FLAGS'")

    def close(self) -> None:
        if self.proc is not None:
            self.proc.stop()


async def _rec_counters(client: Any) -> tuple[int, int]:
    for slot in await client.list_slots():
        if slot.slot == "rec":
            return slot.batches, slot.batched_items
    return 0, 0


def _cpu_sample(metrics_url: str | None) -> CpuSample | None:
    if metrics_url is None:
        return None
    try:
        return scrape(metrics_url)
    except OSError as exc:
        print(f"no CPU report: {metrics_url}: {exc}", file=sys.stderr)
        return None


async def _load_steps(address: str, args: argparse.Namespace, payloads: list[bytes],
                      metrics_url: str | None = None) -> list[dict[str, Any]]:
    from ocrclient import AsyncOcrClient

    steps: list[dict[str, Any]] = []
    # gRPC multiplexes a channel on one TCP connection, and SO_REUSEPORT
    # balances connections, not requests: several channels, as several client
    # services would open, spread the load over the server's front-ends.  With
    # several --connections values each step runs once per value, so one
    # connection's throughput is measured against many in the same run.
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(AsyncOcrClient(address, timeout=120,
                                                                  retries=0))
                   for _ in range(max(args.connections))]
        for client in clients:  # connect outside the measurement
            await getattr(client, args.rpc)([payloads[0]])
        # Untimed passes over every input, as the peer gets (reference_runner --warmup):
        # the first call at each new input shape is slow on OpenVINO and Paddle (MKLDNN),
        # and a step shorter than a pass over the set would otherwise time mostly those.
        for _ in range(args.warmup):
            for payload in payloads:
                await getattr(clients[0], args.rpc)([payload])
        plan = ([("rate", r) for r in args.rate] if args.rate
                else [("concurrency", c) for c in args.concurrency])
        for kind, value in plan:
            for connections in args.connections:
                label = f"{kind} {value}" + (
                    f", {connections} conn" if len(args.connections) > 1 else "")
                step = await _load_step(clients[:connections], args, payloads, kind, value,
                                        metrics_url)
                step["step"], step["connections"] = label, connections
                steps.append(step)
                print(_step_line(step), file=sys.stderr)
    return steps


async def _load_step(clients: list[Any], args: argparse.Namespace, payloads: list[bytes],
                     kind: str, value: float, metrics_url: str | None) -> dict[str, Any]:
    """One closed-loop (concurrency) or open-loop (rate) step over ``clients``."""
    calls: list[Callable[[list[bytes]], Awaitable[object]]] = [
        getattr(c, args.rpc) for c in clients]

    async def send(i: int) -> int:
        await calls[i % len(calls)]([payloads[i % len(payloads)]])
        return 1

    before = await _rec_counters(clients[0])
    cpu_before = await asyncio.to_thread(_cpu_sample, metrics_url)
    with tqdm(desc=f"{kind} {value}", unit="req", file=sys.stderr, leave=False) as bar:
        def tick() -> None:
            bar.update()

        result: StepResult = await (
            open_loop(send, float(value), args.duration, tick) if kind == "rate"
            else closed_loop(send, int(value), args.duration, tick))
    after = await _rec_counters(clients[0])
    cpu_after = await asyncio.to_thread(_cpu_sample, metrics_url)
    summary = result.summary()
    if cpu_before is not None and cpu_after is not None:
        summary["cpu_ms_per_image"] = cpu_per_image(cpu_before, cpu_after, result.images)
        summary["resident_mib"] = resident_mib(cpu_after)
        summary["model_time"] = model_time(cpu_before, cpu_after, result.images,
                                           result.duration_s)
    batches = after[0] - before[0]
    summary["rec_mean_batch"] = round((after[1] - before[1]) / batches, 2) if batches else 0
    return summary


def _step_line(s: dict[str, Any]) -> str:
    return (f"{s['step']:>16}: {s['images_per_s']:7.2f} img/s  p50 {s['p50_ms']:8.1f} ms  "
            f"p90 {s['p90_ms']:8.1f}  p99 {s['p99_ms']:8.1f}  rec batch {s['rec_mean_batch']:5.2f}"
            f"  errors {sum(s['errors'].values())}")


def _payloads(rpc: str, images: list[Path]) -> list[bytes]:
    """Whole images for ocr/detect; for recognize/classify, line crops cut from them."""
    if rpc in ("ocr", "detect"):
        return [p.read_bytes() for p in images]
    import cv2

    from ocrserve.engine.engine import Engine
    from ocrserve.ops.geometry import crop_quad
    from ocrserve.ops.image import decode_image
    from ocrserve.pipeline import OcrParams, Pipeline
    from ocrserve.settings import Settings

    async def crops() -> list[bytes]:
        engine = Engine.from_settings(Settings(model_repository=str(default_root()),
                                               slot=("det=ch_PP-OCRv2_det",)))
        await engine.start()
        out = []
        pipeline = Pipeline(engine)
        for path in images:
            img = decode_image(path.read_bytes())
            for box in (await pipeline.detect(img, OcrParams().det)).value:
                out.append(cv2.imencode(".png", crop_quad(img, box.points))[1].tobytes())
        await engine.close()
        return out

    return asyncio.run(crops())


def cmd_load(args: argparse.Namespace) -> dict[str, Any]:
    images = _images(args)
    model_set = BENCH_MODEL_SETS[args.model_set]
    with_peer = bool(args.reference_python) and args.rpc == "ocr"
    if with_peer:
        _check_peer(args.peer, model_set)
    repo: ModelRepository | None = None
    spawn: list[str] | None = None
    if args.spawn is not None or with_peer:
        repo = _repository(args.model_set, args.reference_python)
    if args.spawn is not None:
        assert repo is not None
        spawn = spawn_flags(args.spawn, model_set, repo)
    payloads = _payloads(args.rpc, images)
    doc: dict[str, Any] = {"command": "load", "rpc": args.rpc, "inputs": len(payloads),
                           "server": shlex.join(spawn) if spawn is not None else args.server,
                           "model_set": args.model_set, "duration_s": args.duration,
                           "warmup_passes": args.warmup}
    if with_peer:
        assert repo is not None
        ref = _run_peer(args.peer, args.model_set, repo, args.reference_python, images,
                        warmup=args.warmup)
        per_image = [img["seconds"] for img in ref["images"]]
        doc["peer"] = {"pipeline": args.peer, "label": ref["label"],
                       "model_set": args.model_set,
                       "images_per_s": len(per_image) / sum(per_image),
                       "mean_ms": 1000 * sum(per_image) / len(per_image)}
        print(f"{_peer_name(doc['peer'])}: {doc['peer']['images_per_s']:.2f} img/s, "
              f"{doc['peer']['mean_ms']:.0f} ms per image", file=sys.stderr)
    target = _Target(args.server, spawn, args.metrics)
    try:
        doc["steps"] = asyncio.run(_load_steps(target.address, args, payloads,
                                               target.metrics_url))
    finally:
        target.close()
    if "peer" in doc:
        doc["peer"]["ratios"] = _peer_ratios(doc["steps"], doc["peer"])
    return doc


def _peer_name(peer: dict[str, Any]) -> str:
    return f"{peer['label']} sequential ({peer['model_set']})"


def _peer_ratios(steps: list[dict[str, Any]], peer: dict[str, Any]) -> dict[str, float]:
    """Concurrency 8's images/s over the peer's, and concurrency 1's p50 over the peer's
    mean per image (for the steps the sweep ran)."""
    by_step = {s["step"]: s for s in steps}
    ratios = {}
    if "concurrency 8" in by_step:
        ratios["c8_images_per_s"] = by_step["concurrency 8"]["images_per_s"] / peer["images_per_s"]
    if "concurrency 1" in by_step:
        ratios["c1_p50_over_mean"] = by_step["concurrency 1"]["p50_ms"] / peer["mean_ms"]
    return ratios


def _one_connection_ratios(steps: list[dict[str, Any]]) -> list[str]:
    """"one connection / N connections" images/s at each load level measured both ways."""
    by_level: dict[str, dict[int, float]] = {}
    for s in steps:
        if "connections" in s:
            level = s["step"].rsplit(",", 1)[0]
            by_level.setdefault(level, {})[s["connections"]] = s["images_per_s"]
    shown = []
    for level, rates in by_level.items():
        most = max(rates)
        if 1 in rates and most > 1 and rates[most]:
            shown.append(f"{level}: 1 connection / {most} connections = "
                         f"{rates[1] / rates[most]:.0%}")
    return shown


def load_table(doc: dict[str, Any]) -> str:
    lines = ["| step | images/s | p50 ms | p90 ms | p99 ms | rec mean batch | errors |",
             "|---|---|---|---|---|---|---|"]
    for s in doc["steps"]:
        lines.append(f"| {s['step']} | {s['images_per_s']:.2f} | {s['p50_ms']:.0f} | "
                     f"{s['p90_ms']:.0f} | {s['p99_ms']:.0f} | {s['rec_mean_batch']:.2f} | "
                     f"{sum(s['errors'].values())} |")
    if "peer" in doc:
        peer = doc["peer"]
        lines.append(f"| {_peer_name(peer)} | "
                     f"{peer['images_per_s']:.2f} | {peer['mean_ms']:.0f} (mean) | | | | |")
        ratios = peer.get("ratios", {})
        shown = []
        if "c8_images_per_s" in ratios:
            shown.append(f"concurrency 8 / peer: {ratios['c8_images_per_s']:.2f}×")
        if "c1_p50_over_mean" in ratios:
            shown.append(f"concurrency 1 p50 / peer mean: {ratios['c1_p50_over_mean']:.2f}×")
        if shown:
            lines += ["", "; ".join(shown)]
    spread = _one_connection_ratios(doc["steps"])
    if spread:
        lines += ["", "; ".join(spread)]
    passes = doc.get("warmup_passes")
    if passes:
        lines += ["", f"Timed after {passes} untimed pass(es) over the {doc['inputs']} inputs"
                  + (", the peer too." if "peer" in doc else ".")]
    cpu = cpu_table(doc["steps"])
    if cpu:
        lines += ["", "CPU milliseconds per image served, by process role and, inside the "
                  "front-ends, by stage (`ocr_frontend_cpu_seconds_total`):", "", cpu]
    models = model_table(doc["steps"])
    if models:
        lines += ["", "The models' own time per image served, on the engine's inference "
                  "thread (`ocr_inference_compute_duration_seconds`), and how busy they kept "
                  "it. With the CPU's slots sharing that one thread (the default), the last "
                  "column bounds the step: the models alone, back to back.", "", models]
    memory = memory_line(doc["steps"])
    if memory:
        lines += ["", memory]
    return "\n".join(lines)


# ------------------------------------------------------------------- ceiling

def cmd_ceiling(args: argparse.Namespace) -> dict[str, Any]:
    from ocrserve.bench.ceiling import Workload, measure_ceiling
    from ocrserve.runtimes import RuntimeOptions

    workload = Workload(lines=args.lines, det_batch=args.det_batch, cls_batch=args.cls_batch,
                        rec_batch=args.rec_batch)
    options = RuntimeOptions(device=args.device, cpu_threads=args.cpu_threads)
    result = measure_ceiling(_repository(args.model_set, args.reference_python),
                             BENCH_MODEL_SETS[args.model_set], workload, options, args.backend,
                             args.repeat, lambda what: print(f"ceiling: {what}", file=sys.stderr))
    return {"command": "ceiling", **result}


# ----------------------------------------------------------------- transport

def cmd_transport(args: argparse.Namespace) -> dict[str, Any]:
    from ocrserve.bench.transport import measure_transport

    return {"command": "transport", "rows": measure_transport(args.rounds)}


def transport_table(doc: dict[str, Any]) -> str:
    lines = ["| payload | bytes | round trip ms (one at a time) | ms per item (all in flight) |",
             "|---|---|---|---|"]
    lines += [f"| {r['payload']} | {r['bytes']:,} | {r['round_trip_ms']:.3f} | "
              f"{r['per_item_ms_in_flight']:.3f} |" for r in doc["rows"]]
    return "\n".join(lines)


# ------------------------------------------------------------------ runtimes

def cmd_runtimes(args: argparse.Namespace) -> dict[str, Any]:
    from ocrserve.bench.runtimes import CASE_KEYS, measure_runtimes

    def progress(what: str) -> None:
        print(f"runtimes: {what}", file=sys.stderr)

    result = measure_runtimes(ModelRepository(default_root()), args.model or CASE_KEYS,
                              args.backend, args.repeat, progress)
    return {"command": "runtimes", **result}


def runtimes_table(doc: dict[str, Any]) -> str:
    lines = ["| model | input | backend | load ms | first call ms | warm median ms | "
             "after another shape, median ms | max abs diff vs native |",
             "|---|---|---|---|---|---|---|---|"]
    for r in doc["rows"]:
        load = "" if r["load_ms"] is None else f"{r['load_ms']:.0f}"
        diff = r["max_abs_diff"]
        shown = ("(native)" if r["native"] else "n/a" if diff is None
                 else diff if isinstance(diff, str) else f"{diff:.1e}")
        lines.append(f"| {r['model']} ({r['name']} v{r['version']}) | {r['input']} | "
                     f"{r['backend']} | {load} | {r['first_call_ms']:.1f} | "
                     f"{r['warm_median_ms']:.1f} | {r['after_other_shape_ms']:.1f} | "
                     f"{shown} |")
    options = doc["options"]
    lines += ["", f"RuntimeOptions(cpu_threads={options['cpu_threads']}); median of "
              f"{options['repeat']} warm calls after the first, on one fixed random input "
              "per shape; then of as many calls each made right after a call at another "
              "shape (det 1x3x704x960, rec 4 crops 480 wide, cls 14 crops)."]
    lines += [f"Skipped: {s}." for s in doc["skipped"]]
    return "\n".join(lines)


def cmd_hardening(args: argparse.Namespace) -> dict[str, Any]:
    from ocrserve.bench.hardening import SERVER_ARGS, run_all

    return {"command": "hardening", "server": " ".join(SERVER_ARGS),
            "rows": run_all(_images(args))}


def hardening_table(doc: dict[str, Any]) -> str:
    lines = [f"Shared server: `ocr-server {doc['server']}` (findings 5 and 6 start their own).",
             "", "| finding | scenario | measured |", "|---|---|---|"]
    for row in doc["rows"]:
        shown = "; ".join(f"{key}: {_shown(value)}" for key, value in row["figures"].items()
                          if not key.endswith("_lines"))
        lines.append(f"| {row['finding']} | {row['scenario']} | {shown} |")
    return "\n".join(lines)


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text.replace("|", "/")


def cmd_swap(args: argparse.Namespace) -> dict[str, Any]:
    from ocrserve.bench.swap import swap_under_load

    return {"command": "swap", **swap_under_load(_images(args), duration_s=args.duration,
                                                  swaps=args.swaps,
                                                  concurrency=args.concurrency_level)}


def cmd_streams(args: argparse.Namespace) -> dict[str, Any]:
    from ocrserve.bench.streams import stream_runs

    spawn = shlex.split(args.spawn)
    rows = stream_runs(streams=args.streams, fps=args.fps, duration_s=args.duration,
                       policies=args.policy, dedup_thresholds=args.dedup_threshold,
                       spawn=spawn)
    return {"command": "streams", "duration_s": args.duration, "spawn": args.spawn,
            "rows": rows}


def swap_table(doc: dict[str, Any]) -> str:
    change = doc["engine_rss_change"]
    served = ", ".join(f"{name} {count}" for name, count in doc["rec_models_served"].items())
    return "\n".join([
        "| requests | failed | rec models named in responses | swap seconds | engine RSS "
        "at rest before the swaps | after the last | change (≤ 10 %) |",
        "|---|---|---|---|---|---|---|",
        f"| {doc['requests']} | {doc['failures']} | {served} | "
        f"{', '.join(str(s) for s in doc['swap_s'])} | {doc['engine_rss_mb_before']} MiB | "
        f"{doc['engine_rss_mb_after']} MiB | {change:+.0%} "
        f"{'ok' if abs(change) <= 0.10 else 'MISSED'} |",
        "",
        f"{doc['swaps']} swaps of the rec slot in {doc['duration_s']:.0f} s at concurrency "
        f"{doc['concurrency']}, after {doc.get('warm_s', 0):.0f} s of the same traffic "
        "without swaps; RSS read at rest after each phase. Before the traffic, a COLD "
        f"recognizer slot answered its first request in {doc.get('first_use_s', 0)} s "
        f"(load and warm-up included), its second in {doc.get('warm_use_s', 0)} s.",
    ])


def cmd_soak(args: argparse.Namespace) -> dict[str, Any]:
    from ocrserve.bench.soak import soak

    doc = soak(_images(args), duration_s=args.duration, swap_every_s=args.swap_every,
               malformed_every_s=args.malformed_every, sample_every_s=args.sample_every,
               rss_growth=args.rss_growth)
    return {"command": "soak", **doc}


def cmd_memory(args: argparse.Namespace) -> dict[str, Any]:
    from ocrserve.bench.memory import measure_memory

    bars: list[tqdm[Any]] = []

    def progress(done: int) -> None:
        if not bars:  # the random run has begun
            bars.append(tqdm(total=args.requests, desc="random requests", unit="req",
                             leave=False))
        bars[0].n = done
        bars[0].refresh()

    run = measure_memory(shlex.split(args.spawn), warm=args.warm, burst=args.burst,
                         requests=args.requests, concurrency=args.concurrency_level,
                         progress=progress)
    for bar in bars:
        bar.close()
    peak = {name: max(sample[name] for _, sample in run.series if name in sample)
            for name in run.phases["warm"]} if run.series else {}
    return {"command": "memory", "server": args.spawn, "warm_requests": args.warm,
            "burst_requests": args.burst, "requests": run.requests,
            "failures": run.failures, "phases": run.phases, "peak_under_load": peak,
            "settled_vs_warm": run.growth("settled"),
            "random_vs_settled": run.growth("random", base="settled")}


def memory_table(doc: dict[str, Any]) -> str:
    phases = doc["phases"]
    lines = ["| process | fresh | warm | after burst | settled | after random | peak under "
             "load | settled vs warm (≤ +25 %) | after random vs settled (≤ +15 %) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in phases["warm"]:
        settled, random_ = doc["settled_vs_warm"][name], doc["random_vs_settled"][name]
        lines.append(
            f"| {name} | " + " | ".join(f"{phases[p].get(name, 0):.0f} MiB" for p in
                                        ("fresh", "warm", "burst", "settled", "random"))
            + f" | {doc['peak_under_load'].get(name, 0):.0f} MiB"
            + f" | {settled:+.0%} {'ok' if settled <= 0.25 else 'MISSED'}"
            + f" | {random_:+.0%} {'ok' if random_ <= 0.15 else 'MISSED'} |")
    lines.append("")
    lines.append(f"{doc['warm_requests']} warm-up requests, {doc['burst_requests']} burst "
                 f"requests (4 pages of 2000x2000 at limit_side_len 2048 each), "
                 f"{doc['requests']} random requests, {doc['failures']} failed.")
    return "\n".join(lines)


# ---------------------------------------------------------------------- main

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocr-bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--images",
                        help="input folder (default: the generated --image-set, in ./.cache)")
    common.add_argument("--image-set", choices=sorted(IMAGE_SETS), default="mixed",
                        help="generated images when --images is not given: mixed (320x240 "
                             "to A4, banners; the default), small (6 of those) or 720p "
                             "(1280x720 frames, ~10 lines each)")
    common.add_argument("--reference-python", help="python of the PaddleOCR reference venv")
    common.add_argument("--json", action="store_true", help="print one JSON document")
    common.add_argument("--update", metavar="FILE", help="rewrite this command's section in FILE")

    core = sub.add_parser("core", parents=[common], help="in-process pipeline vs PaddleOCR")
    core.add_argument("--model-set", action="append", choices=sorted(BENCH_MODEL_SETS),
                      help="repeatable (default: the installed sets, "
                           f"{', '.join(sorted(MODEL_SETS))})")
    core.add_argument("--repeat", type=int, default=2)
    core.add_argument("--peer", choices=sorted(PEERS), default="paddleocr",
                      help="the pipeline run with --reference-python (rapidocr: ONNX sets)")
    core.add_argument("--server-flags", default="",
                      help='ocr-server flags of our pipeline, e.g. "--backend torch '
                           '--precision fp16" (the model set gives the slots)')
    core.add_argument("--versus", metavar="FLAGS",
                      help="also run our pipeline with these ocr-server flags and report how "
                           "many of its lines ours reproduced, and the score differences")
    core.set_defaults(run=cmd_core, table=core_table)

    load = sub.add_parser("load", parents=[common], help="load a running or spawned server")
    load.add_argument("--server", help="HOST:PORT of a running server")
    load.add_argument("--spawn", help="start ocr-server with these flags on a free port")
    load.add_argument("--rpc", choices=("ocr", "detect", "recognize", "classify"), default="ocr")
    load.add_argument("--concurrency", type=_int_list,
                      default=[1, 2, 4, 8, 16])
    load.add_argument("--rate", type=lambda s: [float(x) for x in s.split(",")],
                      help="open loop: requests per second (comma-separated steps)")
    load.add_argument("--duration", type=float, default=20.0, help="seconds per step")
    load.add_argument("--warmup", type=int, default=1,
                      help="untimed passes over the inputs before the first step (the peer "
                           "gets as many)")
    load.add_argument("--connections", type=_int_list, default=[2],
                      help="client channels (TCP connections) the requests are spread over; "
                      "a list (1,4) runs every step once per value")
    load.add_argument("--metrics", metavar="URL",
                      help="the server's /metrics, for the CPU-per-image report (with "
                      "--server; a spawned server's is found)")
    load.add_argument("--model-set", choices=sorted(BENCH_MODEL_SETS), default="v2-onnx",
                      help="models of the peer, and of a spawned server unless its flags "
                           "give --slot")
    load.add_argument("--peer", choices=sorted(PEERS), default="paddleocr",
                      help="sequential baseline run with --reference-python, at its fastest "
                           "CPU setting (rapidocr: ONNX sets)")
    load.set_defaults(run=cmd_load, table=load_table)

    from ocrserve.bench.ceiling import ceiling_table

    ceiling = sub.add_parser("ceiling", parents=[common],
                             help="det + cls + rec alone, batched: the server's ceiling")
    ceiling.add_argument("--model-set", choices=sorted(BENCH_MODEL_SETS), default="v2-onnx")
    ceiling.add_argument("--backend", default="auto", help="as the server's --backend")
    ceiling.add_argument("--device", default="cpu", help="cpu or cuda:N")
    ceiling.add_argument("--cpu-threads", type=int, default=2)
    ceiling.add_argument("--det-batch", type=int, default=8)
    ceiling.add_argument("--cls-batch", type=int, default=64)
    ceiling.add_argument("--rec-batch", type=int, default=64)
    ceiling.add_argument("--lines", type=int, default=10, help="text lines per page")
    ceiling.add_argument("--repeat", type=int, default=20, help="warm calls per model")
    ceiling.set_defaults(run=cmd_ceiling, table=ceiling_table)

    transport = sub.add_parser("transport", parents=[common],
                               help="front-end <-> engine tensor transport cost")
    transport.add_argument("--rounds", type=int, default=50)
    transport.set_defaults(run=cmd_transport, table=transport_table)

    from ocrserve.bench.runtimes import BACKENDS_FOR_FORMAT, CASE_KEYS

    runtimes = sub.add_parser("runtimes", parents=[common],
                              help="every backend on every model kind")
    runtimes.add_argument("--model", action="append", choices=CASE_KEYS,
                          help="repeatable (default: all)")
    runtimes.add_argument("--backend", action="append",
                          choices=sorted({b for bs in BACKENDS_FOR_FORMAT.values() for b in bs}),
                          help="repeatable (default: all installed; the native one still runs "
                               "for the differences)")
    runtimes.add_argument("--repeat", type=int, default=15, help="warm calls per shape")
    runtimes.set_defaults(run=cmd_runtimes, table=runtimes_table)

    hardening = sub.add_parser("hardening", parents=[common],
                               help="the hardening findings, with figures")
    hardening.set_defaults(run=cmd_hardening, table=hardening_table)

    swap = sub.add_parser("swap", parents=[common], help="hot swaps of rec under load")
    swap.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    swap.add_argument("--swaps", type=int, default=5)
    swap.add_argument("--concurrency", dest="concurrency_level", type=int, default=8)
    swap.set_defaults(run=cmd_swap, table=swap_table)

    from ocrserve.bench.streams import streams_table

    streams = sub.add_parser("streams", parents=[common],
                             help="live video streams through StreamOcr")
    streams.add_argument("--streams", type=_int_list, default=[1, 2, 4],
                         help="stream counts to run, comma-separated (default: 1,2,4)")
    streams.add_argument("--fps", type=float, default=15.0, help="frames per second per stream")
    streams.add_argument("--duration", type=float, default=20.0, help="seconds per run")
    streams.add_argument("--policy", action="append", choices=("latest", "block"),
                         help="repeatable (default: latest and block)")
    streams.add_argument("--dedup-threshold", action="append", type=float,
                         help="repeatable (default: 0, off, and 0.05)")
    streams.add_argument("--spawn", default="", help="ocr-server flags (default: none)")
    streams.set_defaults(run=cmd_streams, table=streams_table)

    from ocrserve.bench.soak import soak_table

    soak = sub.add_parser("soak", parents=[common],
                          help="mixed traffic with injected faults, then a verdict")
    soak.add_argument("--duration", type=float, default=600.0, help="seconds of traffic")
    soak.add_argument("--swap-every", type=float, default=60.0,
                      help="seconds between hot swaps of the rec slot")
    soak.add_argument("--malformed-every", type=float, default=10.0,
                      help="seconds between malformed inputs")
    soak.add_argument("--sample-every", type=float, default=10.0,
                      help="seconds between RSS readings")
    soak.add_argument("--rss-growth", type=float, default=0.5,
                      help="allowed growth of each process's last RSS over its RSS after "
                           "the warm-up, as a fraction")
    soak.set_defaults(run=cmd_soak, table=soak_table)

    memory = sub.add_parser("memory", parents=[common], help="RSS of every server process")
    memory.add_argument("--spawn", default="--workers 2",
                        help="ocr-server flags (default: --workers 2)")
    memory.add_argument("--warm", type=int, default=500, help="warm-up requests")
    memory.add_argument("--burst", type=int, default=8, help="requests of large pages")
    memory.add_argument("--requests", type=int, default=20_000, help="random requests")
    memory.add_argument("--concurrency", dest="concurrency_level", type=int, default=4)
    memory.set_defaults(run=cmd_memory, table=memory_table)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "core" and not args.model_set:
        args.model_set = sorted(MODEL_SETS)
    if args.command == "streams":
        args.policy = args.policy or ["latest", "block"]
        args.dedup_threshold = args.dedup_threshold or [0.0, 0.05]
    try:
        doc = args.run(args)
    except OcrError as exc:  # a model that does not load, a device that is not there
        raise SystemExit(f"ocr-bench {args.command}: {exc.message}") from exc
    doc["machine"] = machine_description()
    doc["date"] = datetime.now(UTC).strftime("%Y-%m-%d")
    doc["argv"] = ["ocr-bench", *(argv if argv is not None else sys.argv[1:])]
    table = args.table(doc)
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(table)
    if args.update:
        update_section(Path(args.update), doc, table)
    return 1 if doc.get("verdict") == "FAIL" else 0  # `make soak` fails on a failed soak


if __name__ == "__main__":
    sys.exit(main())
