"""``ocr-client``: the command line over :class:`ocrclient.OcrClient`.

    ocr-client [--server HOST:PORT] [--timeout S] [--json] COMMAND ...
      ocr PATH...        full OCR; per image a header, then "score  text" lines
      detect PATH...     text boxes
      classify PATH...   orientation of cropped lines
      recognize PATH...  text of cropped lines
      health             serving status (exit 1 unless SERVING)
      models             model catalog and slots

``--json`` prints exactly one JSON document on stdout.  Failures print one
line, ``error: <CODE>: <message>``, on stderr and exit 1; usage errors exit 2.

The inference flags are derived from the parameter TypedDicts in
``_params.py``, so the CLI and the Python API cannot drift apart.  The
formatting functions (``*_document``, ``*_text``) are pure: results in, dict
or str out.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from ocrclient._core import DEFAULT_TARGET
from ocrclient._draw import draw_boxes, output_names, require_pillow
from ocrclient._errors import OcrClientError
from ocrclient._params import (
    HELP,
    ClassifyParams,
    DetectParams,
    OcrParams,
    RecognizeParams,
    param_names,
)
from ocrclient._types import (
    Box,
    CatalogModel,
    Classification,
    DetectResult,
    OcrResult,
    Recognition,
    SlotStatus,
)
from ocrclient.client import OcrClient

AnyResult = OcrResult | DetectResult | Classification | Recognition

# Flag spellings that differ from "--" + name with dashes.  A bool flag also
# gets its "--no-" form (--cls / --no-cls).
FLAGS = {
    "language": ["--lang", "--slot"],
    "use_angle_cls": ["--cls"],
    "return_timings": ["--timings"],
}


# ------------------------------------------------------------ formatting


def _plain(value: Any) -> Any:
    """Dataclasses to dicts and tuples to lists, recursively: JSON's shapes."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    return value


def results_document(paths: Sequence[str], results: Sequence[AnyResult]) -> dict[str, Any]:
    """The ``--json`` document of an image command.

    ``{"results": [{"image": path, ...result fields}], "models": [...]}``: the
    result's fields minus its id (the path is the id) and models (listed once,
    at the top), and minus timings when none were asked for.
    """
    if len(paths) != len(results):
        raise ValueError(f"{len(paths)} paths but {len(results)} results")
    entries = [
        {"image": path, **{k: v for k, v in _plain(result).items()
                           if k not in ("id", "models") and v is not None}}
        for path, result in zip(paths, results, strict=True)
    ]
    models = dict.fromkeys(model for result in results for model in result.models)
    return {"results": entries, "models": _plain(list(models))}


def models_document(catalog: Sequence[CatalogModel], slots: Sequence[SlotStatus]
                    ) -> dict[str, Any]:
    return {"catalog": _plain(list(catalog)), "slots": _plain(list(slots))}


def _points(box: Box) -> str:
    return " ".join(f"{x:g},{y:g}" for x, y in box)


def _header(path: str, result: OcrResult | DetectResult, count: int, noun: str) -> str:
    timing = f", {result.timings.total_ms:.1f} ms" if result.timings else ""
    return f"{path}  ({result.width}x{result.height}, {count} {noun}{timing})"


def ocr_text(paths: Sequence[str], results: Sequence[OcrResult]) -> str:
    """Per image a header line, then ``score  text`` per line; blank line between."""
    blocks = [
        "\n".join([_header(path, r, len(r.lines), "lines"),
                   *(f"{line.score:.3f}  {line.text}" for line in r.lines)])
        for path, r in zip(paths, results, strict=True)
    ]
    return "\n\n".join(blocks)


def detect_text(paths: Sequence[str], results: Sequence[DetectResult]) -> str:
    """Per image a header line, then ``score  x,y x,y ...`` per box."""
    blocks = [
        "\n".join([_header(path, r, len(r.boxes), "boxes"),
                   *(f"{box.score:.3f}  {_points(box.box)}" for box in r.boxes)])
        for path, r in zip(paths, results, strict=True)
    ]
    return "\n\n".join(blocks)


def classify_text(paths: Sequence[str], results: Sequence[Classification]) -> str:
    return "\n".join(f"{path}  {r.angle}  {r.score:.3f}"
                     for path, r in zip(paths, results, strict=True))


def recognize_text(paths: Sequence[str], results: Sequence[Recognition]) -> str:
    return "\n".join(f"{path}  {r.score:.3f}  {r.text}"
                     for path, r in zip(paths, results, strict=True))


def models_text(catalog: Sequence[CatalogModel], slots: Sequence[SlotStatus]) -> str:
    lines = ["catalog:"]
    for model in catalog:
        installed = ", ".join(f"v{v.version} ({v.format})" for v in model.installed) or "-"
        lines.append(f"  {model.name}  {model.kind}  {model.language or '-'}  "
                     f"installed: {installed}")
    lines.append("slots:")
    for slot in slots:
        lines.append(f"  {slot.slot}  {slot.model} v{slot.version}  {slot.backend}  "
                     f"{slot.device}  {slot.state}"
                     + (f"  {slot.message}" if slot.message else ""))
    return "\n".join(lines)


# -------------------------------------------------------------- commands


@dataclass(frozen=True)
class ImageCommand:
    """A subcommand that sends image files: which client method, which flags."""

    method: Literal["ocr", "detect", "classify", "recognize"]
    params: type
    text: Callable[[Sequence[str], Sequence[Any]], str]
    help: str
    drawable: bool = False


IMAGE_COMMANDS = {
    "ocr": ImageCommand("ocr", OcrParams, ocr_text, "full OCR of images", drawable=True),
    "detect": ImageCommand("detect", DetectParams, detect_text, "find text boxes",
                           drawable=True),
    "classify": ImageCommand("classify", ClassifyParams, classify_text,
                             "orientation (0/180) of cropped text lines"),
    "recognize": ImageCommand("recognize", RecognizeParams, recognize_text,
                              "text of cropped text lines"),
}


def boxes_of(result: AnyResult) -> list[Box]:
    if isinstance(result, OcrResult):
        return [line.box for line in result.lines]
    if isinstance(result, DetectResult):
        return [box.box for box in result.boxes]
    return []


def _run_images(client: OcrClient, command: ImageCommand, args: argparse.Namespace
                ) -> tuple[dict[str, Any], str]:
    if args.draw is not None:
        require_pillow()
    params = {name: getattr(args, name) for name in param_names(command.params)
              if getattr(args, name) is not None}
    method = getattr(client, command.method)
    results: list[AnyResult] = []
    for start in range(0, len(args.paths), args.batch):
        results += method(args.paths[start:start + args.batch], **params)
    if args.draw is not None:
        args.draw.mkdir(parents=True, exist_ok=True)
        for path, name, result in zip(args.paths, output_names(args.paths), results,
                                      strict=True):
            draw_boxes(path, boxes_of(result), args.draw / name)
    return results_document(args.paths, results), command.text(args.paths, results)


def _run_health(client: OcrClient, args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    status = client.health(args.service)
    return {"service": args.service, "status": status}, status


def _run_models(client: OcrClient, args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    catalog, slots = client.list_catalog(), client.list_slots()
    return models_document(catalog, slots), models_text(catalog, slots)


# ---------------------------------------------------------------- parser


def add_param_flags(parser: argparse.ArgumentParser, params: type) -> None:
    """One flag per key of a parameter TypedDict; unset flags stay None (server default)."""
    for name, kind in get_type_hints(params).items():
        flags = FLAGS.get(name, ["--" + name.replace("_", "-")])
        options: dict[str, Any] = {"dest": name, "default": None, "help": HELP[name]}
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif get_origin(kind) is Literal:
            options["choices"] = get_args(kind)
        else:
            options["type"] = kind
        parser.add_argument(*flags, **options)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def build_parser(default_server: str = DEFAULT_TARGET) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocr-client", description="Client for ocrserve.")
    parser.add_argument("--server", default=default_server, metavar="HOST:PORT",
                        help=f"server address (default: $OCR_SERVER or {DEFAULT_TARGET})")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds per request, retries included (default: 30)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in IMAGE_COMMANDS.items():
        sub = commands.add_parser(name, help=command.help, description=command.help)
        sub.add_argument("paths", nargs="+", metavar="PATH", help="image files")
        sub.add_argument("--batch", type=_positive_int, default=16,
                         help="images per request (default: 16)")
        if command.drawable:
            sub.add_argument("--draw", type=Path, metavar="DIR",
                             help="write copies of the images with the boxes drawn (Pillow)")
        else:
            sub.set_defaults(draw=None)
        add_param_flags(sub, command.params)
    health = commands.add_parser("health", help="serving status (exit 1 unless SERVING)")
    health.add_argument("--service", default="", help="service name (default: whole server)")
    commands.add_parser("models", help="list the model catalog and the slots")
    return parser


def run(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """Execute a parsed command: (JSON document, text output)."""
    with OcrClient(args.server, timeout=args.timeout) as client:
        if args.command in IMAGE_COMMANDS:
            return _run_images(client, IMAGE_COMMANDS[args.command], args)
        if args.command == "health":
            return _run_health(client, args)
        return _run_models(client, args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(os.environ.get("OCR_SERVER") or DEFAULT_TARGET)
    args = parser.parse_args(argv)
    try:
        document, text = run(args)
    except OcrClientError as exc:
        return _fail(exc.code, exc.details)
    except (OSError, ValueError) as exc:  # unreadable or empty input files
        return _fail("INVALID_ARGUMENT", str(exc))
    print(json.dumps(document, ensure_ascii=False, indent=2) if args.json else text)
    unhealthy = args.command == "health" and document["status"] != "SERVING"
    return 1 if unhealthy else 0


def _fail(code: str, message: str) -> int:
    print(f"error: {code}: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
