"""A generated video of moving and changing text, for StreamOcr's tests and ``ocr-bench streams``.

The video is a sequence of scenes of ``scene_frames`` frames each.  A scene
shows one caption (a different one per scene, from :data:`CAPTIONS`) in black
on a light background; every ``move_every`` frames the caption moves a few
pixels to the right.  Between moves the frames are exact repeats, so a
stream with dedup on needs one recognition per move, and the text changes only
at scene boundaries.  Frames are drawn once per distinct picture and shared,
so 300 frames of 640x360 hold about 20 MB.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ocrserve.bench.images import load_font

#: Uppercase words and digits that the PP-OCRv2 models read exactly at this size
#: at every position of the video (PLATFORM 7, NORTH 19, TICKETS 250 and ROOM 404 were
#: tried and misread somewhere).
CAPTIONS = (
    "GATE 12", "EXIT 4", "CAFE 21", "HALL 3", "PIER 5", "ROAD 11",
    "LEVEL 2", "BUS 38", "ZONE 8", "LANE 6", "DOCK 15", "TRACK 9",
)
FONT_SIZE = 40
MOVE_PX = 24


@dataclass(frozen=True)
class VideoFrame:
    index: int
    timestamp_s: float
    image: np.ndarray  # BGR uint8, shared between repeated frames
    caption: str
    scene: int


def text_video(frames: int = 300, *, width: int = 640, height: int = 360, fps: float = 15.0,
               scene_frames: int = 30, move_every: int = 10, title: str | None = None
               ) -> list[VideoFrame]:
    """``title``: a line that stays still at the top of every frame (a channel's logo, a
    sign), above the caption."""
    drawn: dict[tuple[int, int], np.ndarray] = {}
    video = []
    for index in range(frames):
        scene, moves = index // scene_frames, (index % scene_frames) // move_every
        caption = CAPTIONS[scene % len(CAPTIONS)]
        if (scene, moves) not in drawn:
            drawn[scene, moves] = _draw(caption, width, height, 40 + moves * MOVE_PX,
                                        height // 3 + (scene % 3) * 40, title)
        video.append(VideoFrame(index, index / fps, drawn[scene, moves], caption, scene))
    return video


def _draw(caption: str, width: int, height: int, x: int, y: int, title: str | None
          ) -> np.ndarray:
    image = Image.new("RGB", (width, height), (235, 235, 228))
    font = load_font("sans", FONT_SIZE)
    draw = ImageDraw.Draw(image)
    if title:
        draw.text((width // 2, 16), title, font=font, fill=(20, 20, 120))
    draw.text((x, y), caption, font=font, fill=(20, 20, 20))
    rgb = np.asarray(image)
    return np.ascontiguousarray(rgb[:, :, ::-1])


def normalized(text: str) -> str:
    """Text as compared in checks: recognizers differ in the spaces they emit."""
    return text.replace(" ", "")


def write_video(frames: list[VideoFrame], path: Path, fps: float = 15.0) -> Path:
    """The frames as a video file (MJPG in .avi, or mp4v in .mp4), for ``ocr-client stream``."""
    import cv2

    height, width = frames[0].image.shape[:2]
    codec = "mp4v" if path.suffix.lower() == ".mp4" else "MJPG"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*codec), fps, (width, height))
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write {path}")
    for frame in frames:
        writer.write(frame.image)
    writer.release()
    return path
