"""``ocr-client``: the command line over :class:`ocrclient.OcrClient`.

Usage::

    ocr-client [OPTIONS] COMMAND [OPTIONS] PATH...

    ocr PATH...        full OCR; per image a header, then "score  text" per line
    detect PATH...     text boxes; per image a header, then "score  x,y x,y ..." per box
    classify PATH...   orientation (0/180) of already-cropped text lines
    recognize PATH...  text of already-cropped text lines
    health             serving status (exit 1 unless SERVING)
    models             model catalog and slots
    info               server version, limits, parameter defaults, slots
    stream SOURCE      full OCR of a video file or camera, frame by frame (stream_cli.py)

Options may come before or after the command and between the paths:
``ocr-client --json ocr a.png`` and ``ocr-client ocr a.png --json`` are the
same.  Shared options: ``--server HOST:PORT`` (default ``$OCR_SERVER`` or
127.0.0.1:50051), ``--timeout S`` (per request, default 30, 0 = none),
``--retries N``, ``--wait-for-ready``, ``--json``, ``--jsonl``,
``-j/--concurrency N``, ``--request-id ID``, ``--no-progress``; ``--version``.

Many images: the image commands send one image per request (``--batch N``
puts N in each), ``--concurrency`` requests at a time (default 4), each under
its own ``--timeout``.  Text output and ``--jsonl`` lines are printed as each
image completes, so their order can differ from the input order (every JSONL
line has the image's ``index``); ``--json`` prints one document at the end,
results in input order.  A failed image does not stop the others:

    error: PATH: No such file or directory        the file could not be read (nothing sent)
    PATH: error: CODE [REASON]: message (request id X)        the server refused the image

go to stderr, and in ``--json``/``--jsonl`` the image's entry has an
``"error"`` object (``code``, ``reason``, ``message``, ``request_id``; code
``LOCAL`` for a file that could not be read).  A failure of the request itself
that every other request would share too (server unreachable, unknown slot or
language, a parameter out of range) is printed once as ``error: CODE ...`` and
the images not yet sent are not sent.  A progress bar is drawn on stderr when
it is a terminal and there are five images or more.

``--request-id ID`` is sent as ``x-request-id``; when there are several
requests, request k (counted from 1 in input order, one per image unless
``--batch``) gets ``ID-k``.  Without it the server makes up ids, which it logs
and returns with errors.

``--draw DIR`` (ocr, detect; needs Pillow) writes ``DIR/<stem>.ocr.png`` or
``<stem>.det.png`` per image, numbered ``<stem>-2.ocr.png`` ... on clashes; an
input is never overwritten, even with ``--draw .``.  ``--draw-style
side-by-side`` (the default for ocr) puts the image with its boxes next to a
white panel with each line's text written in its box (a CJK font is looked
for; ``--font PATH`` picks one); ``boxes`` (the default for detect) draws the
boxes on the image only; side-by-side for detect writes each box's index and
score in the panel.

Exit status: 0 when everything succeeded, 1 when an image (or the command)
failed, 2 for usage errors and local set-up problems found before anything
was sent (e.g. ``--draw`` without Pillow), 130 when interrupted.

The inference flags are derived from the parameter TypedDicts in
``_params.py``, so the CLI and the Python API cannot drift apart.  What is
printed is built in ``_output.py`` by pure functions (results in, dict or str
out); this module parses, runs the requests and prints.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import queue
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO, get_args, get_origin, get_type_hints

import ocrclient
from ocrclient import _draw
from ocrclient._argtypes import non_negative_int, positive_int, seconds, uint32
from ocrclient._core import DEFAULT_TARGET
from ocrclient._errors import OcrClientError
from ocrclient._output import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    LocalError,
    Outcome,
    batches,
    command_error_line,
    error_line,
    exit_code,
    info_document,
    info_text,
    is_fatal,
    models_document,
    models_text,
    plural,
    read_image,
    request_ids,
    result_entry,
    result_text,
    results_document,
)
from ocrclient._params import (
    HELP,
    ClassifyParams,
    DetectParams,
    OcrParams,
    RecognizeParams,
    param_names,
)
from ocrclient._progress import Progress, isatty
from ocrclient._retry import DEFAULT_RETRIES
from ocrclient._security import add_security_flags, check_security_flags, security_of
from ocrclient._types import (
    AnyResult,
    Box,
    DetectResult,
    OcrResult,
)
from ocrclient.client import OcrClient
from ocrclient.stream_cli import add_stream_parser, run_stream

DEFAULT_CONCURRENCY = 4
DEFAULT_TIMEOUT = 30.0

# Flag spellings that differ from "--" + name with dashes.  A bool flag also
# gets its "--no-" form (--cls / --no-cls).
FLAGS = {
    "language": ["--lang", "--slot"],
    "use_angle_cls": ["--cls"],
    "return_timings": ["--timings"],
}

METAVARS: dict[Any, str] = {int: "N", float: "X", str: "NAME"}



# ------------------------------------------------------------ image commands


@dataclass(frozen=True)
class ImageCommand:
    """A subcommand that sends image files: which client method, which flags."""

    method: Literal["ocr", "detect", "classify", "recognize"]
    params: type
    help: str
    draw_tag: str | None = None        # None: no --draw
    draw_style: _draw.DrawStyle = "side-by-side"


IMAGE_COMMANDS = {
    "ocr": ImageCommand("ocr", OcrParams, "full OCR of images: boxes, orientation, text",
                        draw_tag="ocr", draw_style="side-by-side"),
    "detect": ImageCommand("detect", DetectParams, "find the text boxes of images",
                           draw_tag="det", draw_style="boxes"),
    "classify": ImageCommand("classify", ClassifyParams,
                             "orientation (0/180) of already-cropped text lines"),
    "recognize": ImageCommand("recognize", RecognizeParams,
                              "text of already-cropped text lines"),
}


def boxes_and_labels(result: AnyResult) -> tuple[list[Box], list[str]]:
    """What --draw shows: ocr boxes with their text, detect boxes with index and score."""
    if isinstance(result, OcrResult):
        return [line.box for line in result.lines], [line.text for line in result.lines]
    if isinstance(result, DetectResult):
        return ([box.box for box in result.boxes],
                [f"#{index} {box.score:.2f}" for index, box in enumerate(result.boxes)])
    return [], []


@dataclass
class DrawPlan:
    """Where and how ``--draw`` writes: one output path per input, decided up front."""

    style: _draw.DrawStyle
    outputs: list[Path]
    inputs: list[str]
    font: _draw.FontChoice | None = None

    def draw(self, outcome: Outcome) -> Outcome:
        """The outcome with ``drawn`` (or ``draw_error``) set; failed images are skipped."""
        if outcome.result is None or outcome.error is not None:
            return outcome
        destination = self.outputs[outcome.index]
        boxes, labels = boxes_and_labels(outcome.result)
        try:
            if self.style == "boxes":
                image = _draw.draw_boxes(outcome.path, boxes)
            else:
                assert self.font is not None
                image = _draw.draw_side_by_side(outcome.path, boxes, labels, self.font)
            _draw.save_image(image, destination, self.inputs)
        except (OSError, ValueError, RuntimeError, _draw.DrawError) as exc:
            return dataclasses.replace(outcome, draw_error=f"cannot draw: {exc}")
        return dataclasses.replace(outcome, drawn=str(destination))


class Printer:
    """Prints outcomes as they come (text or JSONL) or collects them (JSON), stderr for errors."""

    def __init__(self, mode: Literal["text", "json", "jsonl"], progress: Progress,
                 out: TextIO, err: TextIO) -> None:
        self.mode = mode
        self.progress = progress
        self.out = out
        self.err = err
        self.blocks = 0
        self.fatal_shown: set[tuple[str, str]] = set()

    def show(self, outcome: Outcome) -> None:
        errors = self.error_lines(outcome)
        output = self.output(outcome)
        if not errors and output is None:
            return
        # The bar shares the terminal with stderr, and with stdout when that is one too.
        wipe = bool(errors) or isatty(self.out)
        with self.progress.suspended() if wipe else contextlib.nullcontext():
            for line in errors:
                print(line, file=self.err, flush=True)
            if output is not None:
                print(output, file=self.out, flush=True)

    def output(self, outcome: Outcome) -> str | None:
        """What goes to stdout for this outcome now (JSON mode: nothing until the end)."""
        if self.mode == "jsonl":
            return json.dumps(result_entry(outcome), ensure_ascii=False)
        if self.mode == "text" and outcome.result is not None and outcome.error is None:
            text = result_text(outcome.path, outcome.result)
            if self.blocks and isinstance(outcome.result, (OcrResult, DetectResult)):
                text = "\n" + text  # a blank line between multi-line blocks
            self.blocks += 1
            return text
        return None

    def error_lines(self, outcome: Outcome) -> list[str]:
        """The stderr lines for this outcome; a run-stopping error only the first time."""
        lines = []
        error = outcome.error
        if outcome.fatal and isinstance(error, OcrClientError):
            key = (error.code, error.reason)
            if key not in self.fatal_shown:  # once, not once per image
                self.fatal_shown.add(key)
                lines.append(command_error_line(error))
        elif error is not None:
            lines.append(error_line(outcome.path, error))
        if outcome.draw_error is not None:
            lines.append(f"error: {outcome.path}: {outcome.draw_error}")
        return lines

    def note(self, text: str) -> None:
        with self.progress.suspended():
            print(text, file=self.err, flush=True)


class ImageRun:
    """Sends the images of one command concurrently and reports each as it completes."""

    def __init__(self, clients: Sequence[OcrClient], command: ImageCommand, paths: list[str],
                 params: dict[str, Any], batch: int, request_id: str | None) -> None:
        self.command = command
        self.paths = paths
        self.params = params
        self.groups = batches(len(paths), batch)
        self.ids = request_ids(request_id, len(self.groups))
        self.clients: queue.Queue[OcrClient] = queue.Queue()
        for client in clients:
            self.clients.put(client)
        self.concurrency = len(clients)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.fatal: OcrClientError | None = None

    def send(self, group: int) -> list[Outcome]:
        """Read and send one request's images (runs in a worker thread)."""
        indices = self.groups[group]
        if self.stop.is_set():
            return [Outcome(i, self.paths[i], error=self.fatal, fatal=True, skipped=True)
                    for i in indices]
        outcomes: dict[int, Outcome] = {}
        sent: list[int] = []
        images: list[bytes] = []
        for index in indices:
            data = read_image(self.paths[index])
            if isinstance(data, LocalError):
                outcomes[index] = Outcome(index, self.paths[index], error=data)
            else:
                sent.append(index)
                images.append(data)
        if images:
            options: dict[str, Any] = {}
            if self.ids[group]:
                options["request_id"] = self.ids[group]
            client = self.clients.get()
            try:
                results = getattr(client, self.command.method)(images, **self.params, **options)
            except OcrClientError as exc:
                fatal = is_fatal(exc)
                if fatal:
                    with self.lock:
                        self.fatal = self.fatal or exc
                    self.stop.set()
                for index in sent:
                    outcomes[index] = Outcome(index, self.paths[index], error=exc, fatal=fatal)
            else:
                for index, result in zip(sent, results, strict=True):
                    outcomes[index] = Outcome(index, self.paths[index], result=result,
                                              error=result.error)
            finally:
                self.clients.put(client)
        return [outcomes[index] for index in indices]

    def outcomes(self) -> Iterator[list[Outcome]]:
        """Each request's outcomes as it completes.  Closing the generator (or Ctrl-C)
        sends nothing more; the caller closes the clients to cancel what is in flight."""
        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, len(self.groups)),
                                  thread_name_prefix="ocr-client")
        try:
            futures: list[Future[list[Outcome]]] = [pool.submit(self.send, group)
                                                    for group in range(len(self.groups))]
            for future in as_completed(futures):
                yield future.result()
        finally:
            self.stop.set()
            pool.shutdown(wait=False, cancel_futures=True)


def _params(args: argparse.Namespace, command: ImageCommand) -> dict[str, Any]:
    return {name: getattr(args, name) for name in param_names(command.params)
            if getattr(args, name, None) is not None}


def prepare_draw(args: argparse.Namespace, command: ImageCommand, err: TextIO
                 ) -> DrawPlan | None:
    """Check Pillow, the font and the folder before anything is sent (DrawError if not)."""
    if getattr(args, "draw", None) is None:
        return None
    assert command.draw_tag is not None
    _draw.require_pillow()
    style: _draw.DrawStyle = args.draw_style or command.draw_style
    font = None
    if style == "side-by-side":
        font = _draw.find_font(args.font)
        if font.warning:
            print(font.warning, file=err)
    directory: Path = args.draw
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _draw.DrawError(f"--draw {directory}: {exc.strerror or exc}") from exc
    outputs = _draw.output_paths(args.paths, directory, command.draw_tag)
    return DrawPlan(style, outputs, list(args.paths), font)


def run_images(args: argparse.Namespace, command: ImageCommand, out: TextIO, err: TextIO
               ) -> int:
    try:
        plan = prepare_draw(args, command, err)
    except _draw.DrawError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_USAGE
    paths: list[str] = args.paths
    progress = Progress(len(paths), err, enabled=False if args.no_progress else None)
    printer = Printer(_mode(args), progress, out, err)
    concurrency = min(args.concurrency, len(batches(len(paths), args.batch)))
    clients = [_client(args) for _ in range(concurrency)]
    run = ImageRun(clients, command, paths, _params(args, command), args.batch, args.request_id)
    done: list[Outcome] = []
    try:
        progress.update(0)
        for outcomes in run.outcomes():
            for outcome in outcomes:
                if plan is not None:
                    outcome = plan.draw(outcome)
                done.append(outcome)
                printer.show(outcome)
            progress.update(len(done), sum(o.failed for o in done))
    except KeyboardInterrupt:
        progress.close()
        print(f"error: interrupted after {len(done)} of {len(paths)} images", file=err)
        return EXIT_INTERRUPTED
    finally:
        progress.close()
        for client in clients:  # cancels whatever is still in flight
            client.close()
    if printer.mode == "json":
        print(json.dumps(results_document(done), ensure_ascii=False, indent=2), file=out)
    failed = sum(o.failed for o in done)
    skipped = sum(o.skipped for o in done)
    if skipped:
        printer.note(f"error: stopped sending: {plural(skipped, 'image')} not sent")
    if failed and len(paths) > 1:
        printer.note(f"{failed} of {plural(len(paths), 'image')} failed")
    return exit_code(done)


# ------------------------------------------------------------ other commands


def run_health(args: argparse.Namespace, client: OcrClient) -> tuple[dict[str, Any], str, int]:
    status = client.health(args.service, **_call_options(args))
    code = EXIT_OK if status == "SERVING" else EXIT_FAILED
    return {"service": args.service, "status": status}, status, code


def run_models(args: argparse.Namespace, client: OcrClient) -> tuple[dict[str, Any], str, int]:
    catalog = client.list_catalog(**_call_options(args))
    slots = client.list_slots(**_call_options(args))
    return models_document(catalog, slots), models_text(catalog, slots), EXIT_OK


def run_info(args: argparse.Namespace, client: OcrClient) -> tuple[dict[str, Any], str, int]:
    info = client.get_server_info(**_call_options(args))
    return info_document(info), info_text(info), EXIT_OK


OTHER_COMMANDS: dict[str, tuple[str, Callable[[argparse.Namespace, OcrClient],
                                               tuple[dict[str, Any], str, int]]]] = {
    "health": ("serving status (exit 1 unless SERVING)", run_health),
    "models": ("list the model catalog and the slots", run_models),
    "info": ("server version, limits, parameter defaults and slots", run_info),
}


def _call_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"request_id": args.request_id} if args.request_id else {}


def _client(args: argparse.Namespace) -> OcrClient:
    timeout = None if args.timeout == 0 else args.timeout
    return OcrClient(args.server, timeout=timeout, retries=args.retries,
                     wait_for_ready=args.wait_for_ready, **dataclasses.asdict(security_of(args)))


def _mode(args: argparse.Namespace) -> Literal["text", "json", "jsonl"]:
    return "json" if args.json else "jsonl" if args.jsonl else "text"


def run_other(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    _, handler = OTHER_COMMANDS[args.command]
    try:
        with _client(args) as client:
            document, text, code = handler(args, client)
    except OcrClientError as exc:
        print(command_error_line(exc), file=err)
        return EXIT_FAILED
    mode = _mode(args)
    if mode == "json":
        print(json.dumps(document, ensure_ascii=False, indent=2), file=out)
    elif mode == "jsonl":
        print(json.dumps(document, ensure_ascii=False), file=out)
    else:
        print(text, file=out)
    return code


# ------------------------------------------------------------ parser


def add_param_flags(parser: argparse.ArgumentParser, params: type) -> None:
    """One flag per key of a parameter TypedDict; unset flags stay None (server default)."""
    group = parser.add_argument_group("inference parameters (unset: the server's default)")
    for name, kind in get_type_hints(params).items():
        flags = FLAGS.get(name, ["--" + name.replace("_", "-")])
        options: dict[str, Any] = {"dest": name, "default": None, "help": HELP[name]}
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif get_origin(kind) is Literal:
            options["choices"] = get_args(kind)
        else:
            # every whole-number parameter is a uint32 field: out of range, a usage error
            options["type"] = uint32 if kind is int else kind
            options["metavar"] = METAVARS.get(kind, "VALUE")
        group.add_argument(*flags, **options)


def global_options(default_server: str, *, suppress: bool) -> argparse.ArgumentParser:
    """The options every command takes, as a parent parser.

    The main parser gets a copy with the real defaults; each subcommand a copy
    whose defaults are SUPPRESS, so that an option given before the command is
    not reset by the subcommand's default.
    """
    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("shared options (before or after the command)")
    group.add_argument("--server", default=default(default_server), metavar="HOST:PORT",
                       help=f"server address (default: $OCR_SERVER or {DEFAULT_TARGET})")
    group.add_argument("--timeout", type=seconds, default=default(DEFAULT_TIMEOUT),
                       metavar="S", help="seconds per request, retries included; 0: no "
                                         "limit (default: 30)")
    group.add_argument("--retries", type=non_negative_int, default=default(DEFAULT_RETRIES),
                       metavar="N", help="retries of transient failures per request "
                       f"(default: {DEFAULT_RETRIES}, spanning 3.75-7.5 s)")
    group.add_argument("--wait-for-ready", action="store_true", default=default(False),
                       help="wait (within the timeout) for an unreachable server to come up")
    group.add_argument("--json", action="store_true", default=default(False),
                       help="print one JSON document at the end (results in input order)")
    group.add_argument("--jsonl", action="store_true", default=default(False),
                       help="print one JSON object per image, as each completes")
    group.add_argument("-j", "--concurrency", type=positive_int,
                       default=default(DEFAULT_CONCURRENCY), metavar="N",
                       help=f"requests in flight at once (default: {DEFAULT_CONCURRENCY})")
    group.add_argument("--request-id", default=default(None), metavar="ID",
                       help="x-request-id to send; ID-1, ID-2, ... when there are several "
                            "requests (in input order)")
    group.add_argument("--no-progress", action="store_true", default=default(False),
                       help="no progress bar (it only shows on a terminal anyway)")
    add_security_flags(group.add_argument, default)
    return parent


EPILOG = """\
examples:
  ocr-client ocr page.png --lang french
  ocr-client ocr scans/*.png --jsonl -j 8 > results.jsonl
  ocr-client --json ocr a.png b.png --no-cls --box-thresh 0.5
  ocr-client ocr scans/*.png --draw annotated/     # annotated/<stem>.ocr.png
  ocr-client detect page.png --draw . --draw-style side-by-side
  ocr-client recognize line.png --slot rec:german
  ocr-client info
  ocr-client stream clip.mp4 --dedup-threshold 0.05     # prints each change of text
  ocr-client stream 0 --pace max --overload latest --draw annotated.mp4

Options go before or after the command.  Images are sent one per request
(--batch N for more), --concurrency at a time, each request under its own
--timeout; a failed image is reported on stderr and the others go on.
exit status: 0 all succeeded, 1 some image or the command failed, 2 usage or
local set-up error, 130 interrupted.  Server: $OCR_SERVER or --server.
"""


def build_parser(default_server: str = DEFAULT_TARGET) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ocr-client", description="Command line client for the ocrserve OCR server.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[global_options(default_server, suppress=False)])
    parser.add_argument("--version", action="version",
                        version=f"ocr-client {ocrclient.__version__}")
    shared = global_options(default_server, suppress=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in IMAGE_COMMANDS.items():
        sub = commands.add_parser(name, help=command.help, description=command.help,
                                  parents=[shared])
        sub.add_argument("paths", nargs="+", metavar="PATH", help="image files")
        sub.add_argument("--batch", type=positive_int, default=1, metavar="N",
                         help="images per request (default: 1)")
        if command.draw_tag is not None:
            draw = sub.add_argument_group("drawing (needs Pillow: pip install "
                                          "'ocrclient[draw]')")
            draw.add_argument("--draw", type=Path, metavar="DIR",
                              help=f"write an annotated copy of each image to "
                                   f"DIR/<stem>.{command.draw_tag}.png (never over an input)")
            detail = ("each line's text in its box" if command.method == "ocr"
                      else "each box's index and score")
            draw.add_argument("--draw-style", choices=_draw.DRAW_STYLES, default=None,
                              help=f"side-by-side: the boxes on the image next to a panel "
                                   f"with {detail}; boxes: the boxes on the image only "
                                   f"(default: {command.draw_style})")
            draw.add_argument("--font", metavar="PATH", default=None,
                              help="TrueType/OpenType font for side-by-side text (default: "
                                   "a CJK font found on the system)")
        else:
            sub.set_defaults(draw=None, draw_style=None, font=None)
        add_param_flags(sub, command.params)
    add_stream_parser(commands, shared, add_param_flags)
    for name, (help_text, _) in OTHER_COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text,
                                  parents=[shared])
        if name == "health":
            sub.add_argument("--service", default="",
                             help="service name (default: the whole server)")
    return parser


def parse_args(argv: Sequence[str] | None = None, default_server: str | None = None
               ) -> argparse.Namespace:
    """Parse like argparse, also taking paths that come after options (``a.png --json b.png``).

    argparse reads a positional list in one piece; paths after an option come
    back as extra arguments, which are appended to the paths here.  Anything
    else left over (an unknown option) is a usage error: exit 2.
    """
    if default_server is None:
        default_server = os.environ.get("OCR_SERVER") or DEFAULT_TARGET
    parser = build_parser(default_server)
    args, extras = parser.parse_known_args(argv)
    after_dashes: list[str] = []
    if "--" in extras:  # after "--" everything is a path, even "-x.png"
        cut = extras.index("--")
        extras, after_dashes = extras[:cut], extras[cut + 1:]
    unknown = [extra for extra in extras if extra.startswith("-")]
    extras += after_dashes
    if unknown or (extras and not hasattr(args, "paths")):
        parser.error(f"unrecognized arguments: {' '.join(unknown or extras)}")
    if extras:
        args.paths = [*args.paths, *extras]
    if args.json and args.jsonl:
        parser.error("--json and --jsonl exclude each other")
    check_security_flags(parser, args)
    if getattr(args, "draw", None) is None:
        for option, value in (("--draw-style", getattr(args, "draw_style", None)),
                              ("--font", getattr(args, "font", None))):
            if value is not None:
                parser.error(f"{option} only applies with --draw DIR")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out, err = sys.stdout, sys.stderr
    try:
        if args.command in IMAGE_COMMANDS:
            return run_images(args, IMAGE_COMMANDS[args.command], out, err)
        if args.command == "stream":
            with _client(args) as client:
                return run_stream(args, client, out, err)
        return run_other(args, out, err)
    except BrokenPipeError:  # e.g. `ocr-client ocr *.png | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("error: interrupted", file=err)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
