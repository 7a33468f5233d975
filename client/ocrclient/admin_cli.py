"""``ocr-admin``: the ModelService from a shell.

    ocr-admin slots
    ocr-admin swap rec ch_PP-OCRv2_rec@2 --expect-version 1
    ocr-admin load rec:french french_mobile_v2.0_rec
    ocr-admin pull french_mobile_v2.0_rec
    ocr-admin watch

Flags go anywhere.  The token comes from ``--token``, ``OCR_ADMIN_TOKEN`` or ``OCR_TOKEN`` (an
environment variable keeps it out of shell history and ``ps``).  Progress goes
to stderr, results to stdout (``--json`` for one JSON document).  Exit status:
0 done, 1 the server refused or failed, 2 a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from ocrclient._argtypes import seconds, uint32
from ocrclient._errors import OcrClientError
from ocrclient._security import add_security_flags, check_security_flags, security_of
from ocrclient._types import PullProgress, SlotStatus
from ocrclient.admin import DEFAULT_ADMIN_TARGET, AdminClient


def slot_line(slot: SlotStatus) -> str:
    standby = (f"  standby {slot.standby_model} v{slot.standby_version}"
               if slot.standby_model else "")
    problem = f"  ({slot.message})" if slot.message else ""
    memory = f"  {slot.memory_bytes / 2**20:.0f} MiB" if slot.memory_bytes else ""
    return (f"{slot.slot}  {slot.kind}  {slot.model} v{slot.version}  {slot.backend}  "
            f"{slot.device}  {slot.state}{memory}{standby}{problem}")


def _print_slots(slots: Sequence[SlotStatus], as_json: bool) -> None:
    if as_json:
        print(json.dumps([asdict(s) for s in slots], indent=2))
    else:
        for slot in slots:
            print(slot_line(slot))


def _progress_of_slots(slots: list[SlotStatus]) -> None:
    for slot in slots:
        print(f"  {slot_line(slot)}", file=sys.stderr)


def _progress_of_pull(step: PullProgress) -> None:
    total = f" of {step.bytes_total:,}" if step.bytes_total else ""
    print(f"  {step.phase.lower()}: {step.bytes_done:,}{total} bytes", file=sys.stderr)


def shared_options(*, suppress: bool) -> argparse.ArgumentParser:
    """Options every command takes, before or after it: the main parser's copy has the
    defaults, the commands' copies SUPPRESS them (a command's default must not reset a
    value given before it)."""
    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--server", metavar="HOST:PORT",
                        default=default(os.environ.get("OCR_ADMIN_SERVER",
                                                       DEFAULT_ADMIN_TARGET)),
                        help="the ModelService's address (env OCR_ADMIN_SERVER)")
    add_security_flags(common.add_argument, default, ("OCR_ADMIN_TOKEN", "OCR_TOKEN"))
    common.add_argument("--timeout", type=seconds, default=default(600.0), metavar="S",
                        help="seconds per call; 0: no limit (default: 600)")
    common.add_argument("--json", action="store_true", default=default(False),
                        help="print one JSON document")
    common.add_argument("--request-id", default=default(None),
                        help="make a retried change idempotent")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocr-admin", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     parents=[shared_options(suppress=False)])
    common = shared_options(suppress=True)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("slots", parents=[common], help="every slot on every engine")
    sub.add_parser("slot", parents=[common], help="one slot").add_argument("slot")
    sub.add_parser("watch", parents=[common], help="slot changes as they happen")
    for name, help_text in (("load", "add a slot"), ("swap", "replace a slot's model")):
        command = sub.add_parser(name, parents=[common], help=help_text)
        command.add_argument("slot", help="e.g. rec or rec:french")
        command.add_argument("model", help="NAME[@VERSION][@onnx|@paddle]")
        if name == "swap":
            command.add_argument("--expect-version", type=uint32,
                                 help="only while the slot serves this version")
    unload = sub.add_parser("unload", parents=[common], help="drain and free a slot")
    unload.add_argument("slot")
    unload.add_argument("--expect-version", type=uint32,
                        help="only while the slot serves this version")
    pull = sub.add_parser("pull", parents=[common],
                          help="the server fetches a catalog model into its repository")
    pull.add_argument("name")
    pull.add_argument("--url", default="", help="another URL (its host must be allowed)")
    return parser


def run(args: argparse.Namespace, admin: AdminClient) -> None:
    if args.command == "slots":
        _print_slots(admin.list_slots(), args.json)
    elif args.command == "slot":
        _print_slots(admin.get_slot(args.slot), args.json)
    elif args.command == "watch":
        for event in admin.watch_slots():
            if args.json:
                print(json.dumps({"slot": asdict(event.slot), "removed": event.removed}),
                      flush=True)
            else:
                print(("removed  " if event.removed else "") + slot_line(event.slot),
                      flush=True)
    elif args.command == "load":
        _print_slots(admin.load_slot(args.slot, args.model, request_id=args.request_id,
                                     on_progress=_progress_of_slots), args.json)
    elif args.command == "swap":
        _print_slots(admin.swap_slot(args.slot, args.model,
                                     expected_version=args.expect_version,
                                     request_id=args.request_id,
                                     on_progress=_progress_of_slots), args.json)
    elif args.command == "unload":
        admin.unload_slot(args.slot, expected_version=args.expect_version,
                          request_id=args.request_id)
        print(json.dumps({"unloaded": args.slot}) if args.json else f"unloaded {args.slot}")
    elif args.command == "pull":
        done = admin.pull_model(args.name, url=args.url, request_id=args.request_id,
                                on_progress=_progress_of_pull)
        document: dict[str, Any] = asdict(done)
        print(json.dumps(document) if args.json else
              f"installed {args.name} v{done.version} ({done.format}), sha256 {done.sha256}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_security_flags(parser, args)
    try:
        with AdminClient(args.server, timeout=args.timeout or None,
                         **asdict(security_of(args))) as admin:
            run(args, admin)
    except OcrClientError as exc:
        print(f"ocr-admin: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. `ocr-admin watch | head`: the reader is done
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
