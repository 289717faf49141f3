"""Video files -> facts (probe) and timed RGB samples (OpenCV), without converting frames nobody uses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np

from edge.types import VideoInfo

VIDEO_EXTENSIONS = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts",
                    ".m2ts", ".wmv", ".flv", ".3gp", ".ogv"}


class VideoError(Exception):
    """A file that cannot be used as a video; the message says why."""


def probe(path: Path) -> VideoInfo:
    path = Path(path)
    if path.stat().st_size == 0:
        raise VideoError("empty file (0 bytes)")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError("no video stream")
            stream = container.streams.video[0]
            duration = None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / av.time_base
            fps = float(stream.average_rate or stream.guessed_rate or 0.0)
            width, height = stream.codec_context.width, stream.codec_context.height
            has_audio = bool(container.streams.audio)
    except av.error.FFmpegError as exc:
        raise VideoError(f"not a readable video: {exc}") from exc
    if not duration or duration <= 0:
        raise VideoError("unknown or zero duration")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise VideoError("OpenCV cannot open the video stream")
        rotation = int(capture.get(cv2.CAP_PROP_ORIENTATION_META) or 0)
    finally:
        capture.release()
    return VideoInfo(duration, fps, width, height, rotation, has_audio)


def sample_frames(path: Path, sample_fps: float = 1.0,
                  bursts: tuple[float, int, float] | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (time in s, RGB frame) about `sample_fps` times a second.

    Every frame is grabbed (cheap: demux + decode) but only sampled ones are retrieved and
    colour-converted. OpenCV applies the rotation metadata itself. `bursts` (every_s, frames, fps):
    also, from every `every_s` seconds on, the next `frames` frames about `fps` a second (the action
    windows of edge.actions), in the same pass and in time order; a frame that is both is yielded once.
    """
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise VideoError("OpenCV cannot open the video stream")
    step = 1.0 / sample_fps
    next_t = 0.0
    next_burst, left, next_in_burst = 0.0, 0, 0.0
    try:
        while capture.grab():
            t = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if bursts and t + 1e-6 >= next_burst:
                every_s, left, burst_fps = bursts
                next_in_burst = t
                next_burst += every_s * max(1, int((t - next_burst) / every_s) + 1)
            sample, in_burst = t + 1e-6 >= next_t, left > 0 and t + 1e-6 >= next_in_burst
            if not (sample or in_burst):
                continue
            ok, bgr = capture.retrieve()
            if not ok:
                break
            yield t, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            if sample:
                next_t += step * max(1, int((t - next_t) / step) + 1)
            if in_burst:
                left -= 1
                next_in_burst += max(1, int((t - next_in_burst) * burst_fps) + 1) / burst_fps
    finally:
        capture.release()
