"""What the CLI prints: outcomes per image and their text and JSON forms.

Pure functions and plain data: results in, dicts and strings out, so the
formats are tested without a server.  ``cli.py`` runs the commands and
decides when to print.
"""

from __future__ import annotations

import dataclasses
import errno
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocrclient._errors import OcrClientError
from ocrclient._types import (
    AnyResult,
    Box,
    CatalogModel,
    Classification,
    DetectResult,
    OcrResult,
    ServerInfo,
    SlotStatus,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

#: Request-level failures that every further request would meet too: stop sending.
FATAL_CODES = frozenset({"UNAVAILABLE", "UNIMPLEMENTED", "UNAUTHENTICATED",
                         "PERMISSION_DENIED"})
FATAL_REASONS = frozenset({"SLOT_NOT_FOUND", "MODEL_NOT_FOUND", "PARAMETER_OUT_OF_RANGE",
                           "PARAMETER_INVALID", "TOO_MANY_IMAGES"})


# ------------------------------------------------------------ outcomes


@dataclass(frozen=True)
class LocalError:
    """An image the client itself could not handle (unreadable file): nothing was sent."""

    message: str           # "No such file or directory"
    reason: str = "EIO"    # errno name (ENOENT, EACCES, EISDIR, ...) or EMPTY_FILE

    code = "LOCAL"


ImageError = OcrClientError | LocalError


@dataclass(frozen=True)
class Outcome:
    """What became of one input image: its result, or why there is none.

    ``fatal``: the error failed the whole request and stopped the run;
    ``skipped``: the image was not sent because of such an error in another
    request.  ``drawn``/``draw_error``: the annotated copy written for
    ``--draw``, or why it could not be.
    """

    index: int
    path: str
    result: AnyResult | None = None
    error: ImageError | None = None
    fatal: bool = False
    skipped: bool = False
    drawn: str | None = None
    draw_error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None or self.draw_error is not None


def read_image(path: str) -> bytes | LocalError:
    """The file's bytes, or the LocalError saying why they cannot be sent."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        name = errno.errorcode.get(exc.errno or 0, "EIO")
        return LocalError(exc.strerror or str(exc), name)
    if not data:
        return LocalError("empty file", "EMPTY_FILE")
    return data


def is_fatal(error: OcrClientError) -> bool:
    """Would every further request fail the same way (so that sending them is pointless)?"""
    return error.code in FATAL_CODES or error.reason in FATAL_REASONS


def request_ids(base: str | None, count: int) -> list[str | None]:
    """Per request: ``base`` itself for a single request, ``base-1``, ``base-2``... for more."""
    if not base:
        return [None] * count
    if count == 1:
        return [base]
    return [f"{base}-{number}" for number in range(1, count + 1)]


def batches(count: int, size: int) -> list[range]:
    """Image indices per request, in input order."""
    return [range(start, min(start + size, count)) for start in range(0, count, size)]


def exit_code(outcomes: Sequence[Outcome]) -> int:
    return EXIT_FAILED if any(outcome.failed for outcome in outcomes) else EXIT_OK


# ------------------------------------------------------------ formatting


def _plain(value: Any) -> Any:
    """Dataclasses to dicts and tuples to lists, recursively: JSON's shapes."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def error_entry(error: ImageError) -> dict[str, Any]:
    """``{"code", "reason", "message", "request_id"}``; code ``LOCAL`` for a local error."""
    if isinstance(error, LocalError):
        return {"code": error.code, "reason": error.reason, "message": error.message,
                "request_id": None}
    return {"code": error.code, "reason": error.reason or None, "message": error.details,
            "request_id": error.request_id}


def result_entry(outcome: Outcome) -> dict[str, Any]:
    """One image's JSON object (a ``--jsonl`` line, an element of ``--json``'s results).

    ``{"image": path, "index": i, ...the result's fields}`` without its id (the
    path says which image) and without empty timings; a failed image has
    ``"error"`` instead of result fields; ``"drawn"`` names the ``--draw`` output.
    """
    entry: dict[str, Any] = {"image": outcome.path, "index": outcome.index}
    if outcome.error is not None:
        entry["error"] = error_entry(outcome.error)
    elif outcome.result is not None:
        entry |= {key: value for key, value in _plain(outcome.result).items()
                  if key not in ("id", "error") and value is not None}
    if outcome.drawn is not None:
        entry["drawn"] = outcome.drawn
    if outcome.draw_error is not None:
        entry["draw_error"] = outcome.draw_error
    return entry


def results_document(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """The ``--json`` document of an image command.

    ``{"results": [entry per image, input order], "models": [...], "failed": n}``:
    entries as :func:`result_entry` without their ``models``, which are listed
    once at the top.
    """
    ordered = sorted(outcomes, key=lambda outcome: outcome.index)
    entries = [{k: v for k, v in result_entry(o).items() if k != "models"} for o in ordered]
    models = dict.fromkeys(model for o in ordered if o.result is not None
                           for model in o.result.models)
    return {"results": entries, "models": _plain(list(models)),
            "failed": sum(o.failed for o in ordered)}


def error_line(path: str, error: ImageError) -> str:
    """The stderr line for a failed image: local problems and the server's differ."""
    if isinstance(error, LocalError):
        return f"error: {path}: {error.message}"
    details = error.details
    if error.image_index is not None:  # the path already says which image
        details = details.removeprefix(f"image {error.image_index}: ")
    reason = f" [{error.reason}]" if error.reason else ""
    return f"{path}: error: {error.code}{reason}: {details}{_request_id_note(error)}"


def command_error_line(error: OcrClientError) -> str:
    """The stderr line for a failed command (or a request failure that stopped the run)."""
    return f"error: {error}{_request_id_note(error)}"


def _request_id_note(error: OcrClientError) -> str:
    return f" (request id {error.request_id})" if error.request_id else ""


def _points(box: Box) -> str:
    return " ".join(f"{x:g},{y:g}" for x, y in box)


def _header(path: str, result: OcrResult | DetectResult, count: int,
            nouns: tuple[str, str]) -> str:
    """``nouns``: for one, for several."""
    timing = f", {result.timings.total_ms:.1f} ms" if result.timings else ""
    counted = f"{count} {nouns[count != 1]}"
    return f"{path}  ({result.width}x{result.height}, {counted}{timing})"


def result_text(path: str, result: AnyResult) -> str:
    """One image's text output.

    ocr: a header line, then ``score  text`` per line; detect: a header, then
    ``score  x,y x,y ...`` per box; classify: ``path  angle  score`` (plus
    ``rotated``); recognize: ``path  score  text``.
    """
    if isinstance(result, OcrResult):
        return "\n".join([_header(path, result, len(result.lines), ("line", "lines")),
                          *(f"{line.score:.3f}  {line.text}" for line in result.lines)])
    if isinstance(result, DetectResult):
        return "\n".join([_header(path, result, len(result.boxes), ("box", "boxes")),
                          *(f"{box.score:.3f}  {_points(box.box)}" for box in result.boxes)])
    if isinstance(result, Classification):
        return f"{path}  {result.angle}  {result.score:.3f}" + ("  rotated" if result.rotated
                                                               else "")
    return f"{path}  {result.score:.3f}  {result.text}"


def models_document(catalog: Sequence[CatalogModel], slots: Sequence[SlotStatus]
                    ) -> dict[str, Any]:
    return {"catalog": _plain(list(catalog)), "slots": _plain(list(slots))}


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


def info_document(info: ServerInfo) -> dict[str, Any]:
    document: dict[str, Any] = _plain(info)
    return document


def info_text(info: ServerInfo) -> str:
    limits = info.limits
    lines = [
        f"server: ocrserve {info.server_version}, API {info.api_version}",
        "limits:",
        f"  message size      {_mib(limits.max_message_bytes)}",
        f"  image pixels      {limits.max_image_pixels:,}",
        f"  images/request    {limits.max_images_per_request}",
        f"  recognizer width  {limits.max_rec_width}",
        "defaults:",
        *(f"  {name:<16}  {_value(value)}" for name, value in info.defaults.items()),
        "slots:",
    ]
    for slot in info.slots:
        model = slot.model
        language = f"  language {slot.language}" if slot.language else ""
        lines.append(f"  {model.slot}  {model.stage}  {model.name} v{model.version}{language}  "
                     f"{'ready' if slot.ready else 'not ready'}")
    cache = info.response_cache
    lines.append(f"response cache: {_mib(cache.bytes)} of {_mib(cache.max_bytes)}, "
                 f"{cache.entries} entries, {cache.hits} hits, {cache.misses} misses"
                 if cache.enabled else "response cache: off")
    return "\n".join(lines)


def plural(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB" if size >= 1024 * 1024 else f"{size} bytes"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value) if value != "" else "-"
