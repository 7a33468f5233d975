"""The frame difference that StreamOcr's dedup uses, on the generated video's frames."""

from __future__ import annotations

import numpy as np

from ocrserve.bench.video import text_video
from ocrserve.ops.frame_diff import difference, thumbnail


def test_repeats_are_identical_and_changed_text_is_far_above_noise() -> None:
    video = text_video(40, scene_frames=20, move_every=10)
    first, repeat, moved, new_caption = (thumbnail(video[i].image) for i in (0, 5, 10, 20))
    assert difference(first, repeat) == 0.0
    assert difference(first, moved) > 0.2
    assert difference(first, new_caption) > 0.2

    noise = np.random.default_rng(0).normal(0, 4, video[0].image.shape)  # sensor noise
    noisy = np.clip(video[0].image + noise, 0, 255).astype(np.uint8)
    assert difference(first, thumbnail(noisy)) < 0.03


def test_frames_of_another_size_always_differ_and_grey_frames_work() -> None:
    image = text_video(1)[0].image
    assert difference(thumbnail(image), thumbnail(image[:-1])) == 1.0
    grey = image[:, :, 0]
    assert difference(thumbnail(grey), thumbnail(grey.copy())) == 0.0
