"""``ocr-client stream VIDEO_FILE|CAMERA_INDEX``: a video through StreamOcr.

Frames are read with OpenCV (``pip install 'ocrclient[video]'``), sent as raw
pixels (``--encode jpeg|png`` to compress them first), at the source's frame
rate (``--pace source``, the default for files; a camera paces itself) or as
fast as the server takes them (``--pace max``).

Output: by default one line each time the text changes (``FRAME  TIME  text |
text``), so a still caption prints once; ``--all`` prints every frame with its
status.  ``--jsonl`` prints every frame's result as JSON; ``--json`` one
document at the end.  A summary goes to stderr at the end: frames by status
and the server's latency.  ``--draw out.mp4`` writes the video with the boxes
and text drawn on each frame (dropped frames show the last lines drawn).
``--max-frames N`` stops after N frames (a camera runs until Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from ocrclient._argtypes import positive_int
from ocrclient._errors import OcrClientError
from ocrclient._output import EXIT_FAILED, EXIT_OK, EXIT_USAGE, command_error_line
from ocrclient._params import StreamParams, param_names
from ocrclient._types import Frame, FrameResult, TextLine
from ocrclient.client import OcrClient

PACES = ("source", "max")
ENCODINGS = ("raw", "jpeg", "png")
#: When the source does not say (some cameras): frames per second assumed for timestamps.
FALLBACK_FPS = 30.0


class VideoError(Exception):
    """The source cannot be read, or OpenCV is missing."""


def _cv2() -> Any:
    try:
        import cv2
    except ImportError:
        raise VideoError("ocr-client stream needs OpenCV: pip install 'ocrclient[video]'"
                         ) from None
    return cv2


class VideoSource:
    """Frames of a file or camera, with their timestamps, paced as asked."""

    def __init__(self, source: str, *, pace: str, encode: str, max_frames: int | None) -> None:
        cv2 = _cv2()
        self.is_camera = source.isdigit() and not Path(source).exists()
        self.capture = cv2.VideoCapture(int(source) if self.is_camera else source)
        if not self.capture.isOpened():
            raise VideoError(f"cannot open {'camera' if self.is_camera else 'video'} {source}")
        self.fps = self.capture.get(cv2.CAP_PROP_FPS) or FALLBACK_FPS
        self.size = (int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                     int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self.pace = pace
        self.encode = encode
        self.max_frames = max_frames
        #: Frames sent and not yet answered, kept for --draw.
        self.kept: dict[int, Any] | None = None
        self.frames_read = 0

    def frames(self) -> Iterator[Frame]:
        cv2 = _cv2()
        started = time.monotonic()
        index = 0
        while self.max_frames is None or index < self.max_frames:
            ok, image = self.capture.read()
            if not ok:
                break
            timestamp = (time.monotonic() - started if self.is_camera
                         else self.capture.get(cv2.CAP_PROP_POS_MSEC) / 1000)
            if self.pace == "source" and not self.is_camera:
                time.sleep(max(0.0, started + index / self.fps - time.monotonic()))
            if self.kept is not None:
                self.kept[index] = image
            self.frames_read += 1
            yield Frame(self._payload(image), index, timestamp)
            index += 1
        self.capture.release()

    def _payload(self, image: Any) -> Any:
        if self.encode == "raw":
            return image
        ok, data = _cv2().imencode(".jpg" if self.encode == "jpeg" else ".png", image)
        if not ok:
            raise VideoError(f"OpenCV could not encode a frame as {self.encode}")
        return bytes(data)


class VideoWriter:
    """``--draw``: each answered frame with its lines drawn on it."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int], source: str) -> None:
        if Path(source).exists() and path.resolve() == Path(source).resolve():
            raise VideoError(f"refusing to overwrite the input {source} with --draw")
        cv2 = _cv2()
        fourcc = cv2.VideoWriter.fourcc(*("mp4v" if path.suffix.lower() == ".mp4" else "MJPG"))
        self.writer = cv2.VideoWriter(str(path), fourcc, fps, size)
        if not self.writer.isOpened():
            raise VideoError(f"cannot write a video to {path}")
        self.lines: tuple[TextLine, ...] = ()

    def write(self, image: Any, result: FrameResult) -> None:
        if result.status in ("processed", "deduped"):
            self.lines = result.lines
        self.writer.write(annotate(image, self.lines))

    def close(self) -> None:
        self.writer.release()


def annotate(image: Any, lines: tuple[TextLine, ...]) -> Any:
    """A copy of the BGR frame with each line's box outlined and its text above it
    (OpenCV's font: characters outside ASCII show as ?)."""
    cv2 = _cv2()
    import numpy as np

    from ocrclient._draw import box_colour

    out = image.copy()
    for index, line in enumerate(lines):
        red, green, blue = box_colour(index)
        points = np.array([[x, y] for x, y in line.box], np.int32)
        cv2.polylines(out, [points], True, (blue, green, red), 2)
        text = line.text.encode("ascii", "replace").decode()
        x, y = int(points[:, 0].min()), int(points[:, 1].min())
        cv2.putText(out, text, (x, max(12, y - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                    (blue, green, red), 2)
    return out


def _text_of(result: FrameResult) -> str:
    return " | ".join(line.text for line in result.lines)


def _record(result: FrameResult) -> dict[str, Any]:
    record = asdict(result)
    record["error"] = None if result.error is None else {
        "code": result.error.code, "reason": result.error.reason,
        "message": str(result.error)}
    return record


def run_stream(args: argparse.Namespace, client: OcrClient, out: TextIO, err: TextIO) -> int:
    try:
        source = VideoSource(args.source, pace=args.pace, encode=args.encode,
                             max_frames=args.max_frames)
        writer = (VideoWriter(args.draw, source.fps, source.size, args.source)
                  if args.draw else None)
    except VideoError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_USAGE
    if writer is not None:
        source.kept = {}
    params = {name: getattr(args, name) for name in param_names(StreamParams)
              if getattr(args, name, None) is not None}
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    records: list[dict[str, Any]] = []
    last_text: str | None = None
    try:
        for result in client.stream(source.frames(), **params):
            statuses[result.status] += 1
            if result.status != "dropped":
                latencies.append(result.latency_ms)
            if writer is not None and source.kept is not None:
                writer.write(source.kept.pop(result.frame_id), result)
            if args.json:
                records.append(_record(result))
            elif args.jsonl:
                print(json.dumps(_record(result), ensure_ascii=False), file=out, flush=True)
            else:
                last_text = _print_text(result, last_text, args.all, out, err)
    except OcrClientError as exc:
        print(command_error_line(exc), file=err)
        return EXIT_FAILED
    finally:
        if writer is not None:
            writer.close()
    if source.frames_read == 0:  # opened, but nothing in it OpenCV can read
        print(f"error: no frame could be read from {args.source}", file=err)
        return EXIT_USAGE
    if args.json:
        print(json.dumps({"frames": records, "statuses": dict(statuses)},
                         ensure_ascii=False, indent=2), file=out)
    print(_summary(statuses, latencies), file=err)
    return EXIT_FAILED if statuses["failed"] else EXIT_OK


def _print_text(result: FrameResult, last_text: str | None, every: bool, out: TextIO,
                err: TextIO) -> str | None:
    """One line per change of text (every frame with ``every``); the text shown now."""
    head = f"{result.frame_id}\t{result.timestamp_s:.2f}s"
    if result.status == "failed":
        print(f"frame {result.frame_id}: error: {result.error}", file=err)
        return last_text
    if every:
        print(f"{head}\t{result.status}\t{_text_of(result)}", file=out, flush=True)
        return _text_of(result) if result.status != "dropped" else last_text
    if result.status == "dropped" or _text_of(result) == last_text:
        return last_text
    print(f"{head}\t{_text_of(result)}", file=out, flush=True)
    return _text_of(result)


def _summary(statuses: Counter[str], latencies: list[float]) -> str:
    counts = ", ".join(f"{statuses[s]} {s}" for s in ("processed", "deduped", "dropped",
                                                       "failed"))
    text = f"{sum(statuses.values())} frames: {counts}"
    if latencies:
        ordered = sorted(latencies)
        p50 = ordered[len(ordered) // 2]
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        text += f"; server latency p50 {p50:.0f} ms, p99 {p99:.0f} ms"
    return text


def add_stream_parser(commands: Any, shared: argparse.ArgumentParser,
                      add_param_flags: Any) -> None:
    help_text = "full OCR of a video file or camera through StreamOcr, frame by frame"
    sub = commands.add_parser("stream", help=help_text, description=help_text,
                              parents=[shared])
    sub.add_argument("source", metavar="VIDEO_FILE|CAMERA_INDEX",
                     help="a video file OpenCV can read, or a camera number (0, 1, ...)")
    sub.add_argument("--pace", choices=PACES, default="source",
                     help="send at the source's frame rate, or as fast as the server takes "
                          "frames (default: source)")
    sub.add_argument("--encode", choices=ENCODINGS, default="raw",
                     help="send frames as raw pixels or compressed (default: raw)")
    sub.add_argument("--all", action="store_true",
                     help="print every frame with its status, not only changes of text")
    sub.add_argument("--draw", type=Path, metavar="OUT.mp4",
                     help="write the video with each frame's boxes and text drawn")
    sub.add_argument("--max-frames", type=positive_int, default=None, metavar="N",
                     help="stop after N frames")
    add_param_flags(sub, StreamParams)
