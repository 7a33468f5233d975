"""Video streams (``ocr-bench streams``): how many live streams the server keeps up with.

For each stream count N, N clients each send the generated video of
``bench/video.py`` (640x360, looped) through StreamOcr at ``fps`` frames per
second for ``duration_s`` of wall time, all at once, with one overload policy
and dedup threshold (a sender held back by ``block`` sends fewer frames).  Per
run: frames answered per second per stream (processed plus deduped: frames
whose text the caller got), dropped and deduped counts, and end-to-end latency
as the client sees it (from handing a frame to gRPC to its answer) for frames
that were not dropped.

A stream is *sustained* when the caller gets text for at least 95 % of its
frames at the source's rate: with ``latest`` that means at most 5 % dropped,
with ``block`` (which never drops) that the sender was not slowed below 95 %
of ``fps``.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from ocrserve.bench.spawn import ServerProcess
from ocrserve.bench.video import VideoFrame, text_video

SUSTAINED = 0.95


def stream_runs(*, streams: Sequence[int], fps: float, duration_s: float,
                policies: Sequence[str], dedup_thresholds: Sequence[float],
                spawn: Sequence[str] = ()) -> list[dict[str, Any]]:
    video = text_video(300, fps=fps)
    rows = []
    with ServerProcess(list(spawn)) as server:
        for policy, dedup, count in itertools.product(policies, dedup_thresholds, streams):
            rows.append(_run(server.target, video, count, fps, duration_s, policy, dedup))
    return rows


def _run(target: str, video: list[VideoFrame], count: int, fps: float, duration_s: float,
         policy: str, dedup: float) -> dict[str, Any]:
    per_stream: list[dict[str, Any]] = [{} for _ in range(count)]
    threads = [threading.Thread(target=_one_stream,
                                args=(target, video, fps, duration_s, policy, dedup, out))
               for out in per_stream]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    for out in per_stream:
        statuses.update(out["statuses"])
        latencies.extend(out["latencies"])
    frames = sum(statuses.values())
    with_text = statuses["processed"] + statuses["deduped"]
    expected = count * int(duration_s * fps)
    text_fps = with_text / count / duration_s
    ordered = sorted(latencies) or [0.0]
    return {
        "streams": count, "policy": policy, "dedup_threshold": dedup, "fps": fps,
        "frames": frames, "wall_s": round(wall, 1), "statuses": dict(statuses),
        "text_fps_per_stream": round(text_fps, 2),
        "latency_ms_p50": round(ordered[len(ordered) // 2]),
        "latency_ms_p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]),
        "sustained": with_text >= SUSTAINED * expected and text_fps >= SUSTAINED * fps,
        "errors": [out["error"] for out in per_stream if out.get("error")],
    }


def _one_stream(target: str, video: list[VideoFrame], fps: float, duration_s: float,
                policy: str, dedup: float, out: dict[str, Any]) -> None:
    from ocrclient import Frame, OcrClient, OcrClientError

    sent: dict[int, float] = {}

    def frames() -> Iterator[Frame]:
        """The source's frames for ``duration_s`` of wall time: a held-back sender (block)
        sends fewer."""
        started = time.monotonic()
        for index in itertools.count():
            due = started + index / fps
            if due - started >= duration_s:
                return
            time.sleep(max(0.0, due - time.monotonic()))
            if time.monotonic() - started >= duration_s:
                return
            sent[index] = time.monotonic()
            yield Frame(video[index % len(video)].image, index, index / fps)

    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    try:
        with OcrClient(target) as client:
            overload: Literal["latest", "block"] = "block" if policy == "block" else "latest"
            for result in client.stream(frames(), overload=overload, dedup_threshold=dedup):
                statuses[result.status] += 1
                if result.status != "dropped":
                    latencies.append((time.monotonic() - sent.pop(result.frame_id)) * 1000)
    except OcrClientError as exc:
        out["error"] = str(exc)
    out["statuses"], out["latencies"] = statuses, latencies


def streams_table(doc: dict[str, Any]) -> str:
    lines = [
        "| policy | dedup | streams | frames | text frames/s per stream | processed | "
        "deduped | dropped | failed | latency p50 | p99 | sustained |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in doc["rows"]:
        counts = row["statuses"]
        lines.append(
            f"| {row['policy']} | {row['dedup_threshold'] or 'off'} | {row['streams']} | "
            f"{row['frames']} | {row['text_fps_per_stream']} | {counts.get('processed', 0)} | "
            f"{counts.get('deduped', 0)} | {counts.get('dropped', 0)} | "
            f"{counts.get('failed', 0)} | {row['latency_ms_p50']} ms | "
            f"{row['latency_ms_p99']} ms | {'yes' if row['sustained'] else 'no'} |")
    first = doc["rows"][0] if doc["rows"] else {"fps": 0}
    lines += ["", f"Streams of the generated 640x360 video at {first['fps']:g} fps for "
                  f"{doc['duration_s']:g} s each; server flags: {doc['spawn'] or 'defaults'}. "
                  "Sustained: text for at least 95 % of the frames at the source's rate."]
    return "\n".join(lines)
