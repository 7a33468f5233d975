"""``ocr-bench``: measure the core pipeline and the server against PaddleOCR.

    ocr-bench core  [--model-set v2-onnx] [--reference-python PY]
        In-process pipeline, one image at a time, and PaddleOCR's own pipeline
        on the same images and models in the same run: images/s and per-stage
        times for both.

    ocr-bench load  --server HOST:PORT | --spawn "SERVER FLAGS"
                    [--rpc ocr|detect|recognize|classify]
                    [--concurrency 1,2,4,8,16 | --rate R] [--duration S]
                    [--reference-python PY --model-set NAME]
        Closed-loop sweep (or open loop at a fixed rate) like perf_analyzer:
        throughput, p50/p90/p99 latency, errors and the recognizer's mean
        batch per step; optionally PaddleOCR's sequential pipeline as the
        baseline.

    ocr-bench transport
        Round-trip cost of the tensors a request moves between a front-end
        and an engine process (Unix socket, no pickling).

``--json`` prints one JSON document instead of the tables; ``--update FILE``
rewrites that file's section for the command between generated markers.
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

from ocrserve.bench.fidelity import MODEL_SETS, run_reference
from ocrserve.bench.images import generate_image_set
from ocrserve.bench.loadgen import StepResult, closed_loop, open_loop
from ocrserve.bench.report import machine_description, update_section
from ocrserve.models.repository import ModelRepository, default_root

#: where the generated image set goes, relative to the working directory like ./models
DEFAULT_IMAGES = Path(".cache") / "images"


def _images(folder: str | None) -> list[Path]:
    if folder:
        paths = sorted(p for p in Path(folder).iterdir()
                       if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif"))
        if not paths:
            raise SystemExit(f"no images in {folder}")
        return paths
    return generate_image_set(DEFAULT_IMAGES)


# ---------------------------------------------------------------------- core

async def _core_ours(model_set: str, images: list[Path], repeat: int) -> dict[str, Any]:
    from ocrserve.engine.engine import Engine
    from ocrserve.ops.image import decode_image
    from ocrserve.pipeline import OcrParams, Pipeline, Timings
    from ocrserve.settings import Settings

    settings = Settings(model_repository=str(default_root()),
                        slot=MODEL_SETS[model_set].slots())
    engine = Engine.from_settings(settings)
    started = time.perf_counter()
    await engine.start()
    load_s = time.perf_counter() - started
    pipeline = Pipeline(engine)
    decoded = [decode_image(p.read_bytes()) for p in images]
    await asyncio.gather(*(pipeline.ocr(img, OcrParams()) for img in decoded))  # warm-up pass
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
    return {"images_per_s": len(images) / total, "total_s": total, "load_s": load_s,
            "stage_s": stages}


def cmd_core(args: argparse.Namespace) -> dict[str, Any]:
    images = _images(args.images)
    rows = []
    for name in args.model_set:
        ours = asyncio.run(_core_ours(name, images, args.repeat))
        row: dict[str, Any] = {"model_set": name, "images": len(images), "ours": ours}
        if args.reference_python:
            models = MODEL_SETS[name].models(ModelRepository(default_root()))
            ref = run_reference(Path(args.reference_python), models, images,
                                repeat=args.repeat)
            row["paddleocr"] = {"images_per_s": len(images) / ref["total_seconds"],
                                "total_s": ref["total_seconds"], "load_s": ref["load_seconds"],
                                "stage_s": ref["stage_seconds"]}
        rows.append(row)
    return {"command": "core", "rows": rows}


def core_table(doc: dict[str, Any]) -> str:
    lines = ["| model set | pipeline | images/s | det s | cls s | rec s | total s |",
             "|---|---|---|---|---|---|---|"]
    for row in doc["rows"]:
        for who in ("ours", "paddleocr"):
            if who in row:
                r = row[who]
                stage = r["stage_s"]
                lines.append(f"| {row['model_set']} | {who} | {r['images_per_s']:.2f} | "
                             f"{stage.get('det', 0):.2f} | {stage.get('cls', 0):.2f} | "
                             f"{stage.get('rec', 0):.2f} | {r['total_s']:.2f} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------- load

class _Target:
    """Where the load goes: an address, or a server this command starts and stops."""

    def __init__(self, server: str | None, spawn: str | None) -> None:
        self.proc: Any = None
        if spawn is not None:
            from ocrserve.bench.spawn import ServerProcess

            self.proc = ServerProcess(shlex.split(spawn))
            self.proc.start()
            self.address = self.proc.target
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


async def _load_steps(address: str, args: argparse.Namespace, payloads: list[bytes]
                      ) -> list[dict[str, Any]]:
    from ocrclient import AsyncOcrClient

    steps: list[dict[str, Any]] = []
    # gRPC multiplexes a channel on one TCP connection, and SO_REUSEPORT
    # balances connections, not requests: several channels, as several client
    # services would open, spread the load over the server's front-ends.
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(AsyncOcrClient(address, timeout=120,
                                                                  retries=0))
                   for _ in range(args.connections)]
        calls: list[Callable[[list[bytes]], Awaitable[object]]] = [
            getattr(c, args.rpc) for c in clients]

        async def send(i: int) -> int:
            await calls[i % len(calls)]([payloads[i % len(payloads)]])
            return 1

        for i in range(len(calls)):
            await send(i)  # connect and warm outside the measurement
        plan = ([("rate", r) for r in args.rate] if args.rate
                else [("concurrency", c) for c in args.concurrency])
        for kind, value in plan:
            before = await _rec_counters(clients[0])
            with tqdm(desc=f"{kind} {value}", unit="req", file=sys.stderr, leave=False) as bar:
                def tick() -> None:
                    bar.update()

                result: StepResult = await (
                    open_loop(send, float(value), args.duration, tick) if kind == "rate"
                    else closed_loop(send, int(value), args.duration, tick))
            after = await _rec_counters(clients[0])
            summary = result.summary()
            batches = after[0] - before[0]
            summary["rec_mean_batch"] = round((after[1] - before[1]) / batches, 2) if batches else 0
            steps.append(summary)
            print(_step_line(summary), file=sys.stderr)
    return steps


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
    images = _images(args.images)
    payloads = _payloads(args.rpc, images)
    doc: dict[str, Any] = {"command": "load", "rpc": args.rpc, "inputs": len(payloads),
                           "server": args.spawn or args.server, "duration_s": args.duration}
    if args.reference_python and args.rpc == "ocr":
        models = MODEL_SETS[args.model_set].models(ModelRepository(default_root()))
        ref = run_reference(Path(args.reference_python), models, images)
        per_image = [img["seconds"] for img in ref["images"]]
        doc["paddleocr"] = {"model_set": args.model_set,
                            "images_per_s": len(per_image) / sum(per_image),
                            "mean_ms": 1000 * sum(per_image) / len(per_image)}
        print(f"PaddleOCR sequential ({args.model_set}): "
              f"{doc['paddleocr']['images_per_s']:.2f} img/s, "
              f"{doc['paddleocr']['mean_ms']:.0f} ms per image", file=sys.stderr)
    target = _Target(args.server, args.spawn)
    try:
        doc["steps"] = asyncio.run(_load_steps(target.address, args, payloads))
    finally:
        target.close()
    return doc


def load_table(doc: dict[str, Any]) -> str:
    lines = ["| step | images/s | p50 ms | p90 ms | p99 ms | rec mean batch | errors |",
             "|---|---|---|---|---|---|---|"]
    for s in doc["steps"]:
        lines.append(f"| {s['step']} | {s['images_per_s']:.2f} | {s['p50_ms']:.0f} | "
                     f"{s['p90_ms']:.0f} | {s['p99_ms']:.0f} | {s['rec_mean_batch']:.2f} | "
                     f"{sum(s['errors'].values())} |")
    if "paddleocr" in doc:
        ref = doc["paddleocr"]
        lines.append(f"| PaddleOCR sequential ({ref['model_set']}) | "
                     f"{ref['images_per_s']:.2f} | {ref['mean_ms']:.0f} (mean) | | | | |")
    return "\n".join(lines)


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


# ---------------------------------------------------------------------- main

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocr-bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--images",
                        help="input folder (default: the generated image set, in ./.cache/images)")
    common.add_argument("--reference-python", help="python of the PaddleOCR reference venv")
    common.add_argument("--json", action="store_true", help="print one JSON document")
    common.add_argument("--update", metavar="FILE", help="rewrite this command's section in FILE")

    core = sub.add_parser("core", parents=[common], help="in-process pipeline vs PaddleOCR")
    core.add_argument("--model-set", action="append", choices=sorted(MODEL_SETS))
    core.add_argument("--repeat", type=int, default=2)
    core.set_defaults(run=cmd_core, table=core_table)

    load = sub.add_parser("load", parents=[common], help="load a running or spawned server")
    load.add_argument("--server", help="HOST:PORT of a running server")
    load.add_argument("--spawn", help="start ocr-server with these flags on a free port")
    load.add_argument("--rpc", choices=("ocr", "detect", "recognize", "classify"), default="ocr")
    load.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")],
                      default=[1, 2, 4, 8, 16])
    load.add_argument("--rate", type=lambda s: [float(x) for x in s.split(",")],
                      help="open loop: requests per second (comma-separated steps)")
    load.add_argument("--duration", type=float, default=20.0, help="seconds per step")
    load.add_argument("--connections", type=int, default=2,
                      help="client channels (TCP connections) the requests are spread over")
    load.add_argument("--model-set", choices=sorted(MODEL_SETS), default="v2-onnx",
                      help="models of the PaddleOCR baseline (match the server's)")
    load.set_defaults(run=cmd_load, table=load_table)

    transport = sub.add_parser("transport", parents=[common],
                               help="front-end <-> engine tensor transport cost")
    transport.add_argument("--rounds", type=int, default=50)
    transport.set_defaults(run=cmd_transport, table=transport_table)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "core" and not args.model_set:
        args.model_set = sorted(MODEL_SETS)
    doc = args.run(args)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
