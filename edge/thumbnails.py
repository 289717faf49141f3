"""Clip thumbnails: a small JPEG of a video at one moment, made when first asked for by seeking the file, and
kept in a disk cache with a size cap (least recently used out first).

On demand rather than at index time: a clip's best moment is known only once a request has scored it, and
keeping a picture of every 1 s sample would cost ~50 MB per hour of video; seeking one frame of 720p H.264
costs ~0.15 s (README, Thumbnails).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import cv2

log = logging.getLogger("edge.thumbnails")

BOX = (320, 180)  # a thumbnail fits in this (width, height), keeping the video's aspect
JPEG_QUALITY = 80
_PEAK = re.compile(r"(0|[1-9]\d*)(\.\d{1,2})?")  # the one spelling peak_name writes: a cache key per moment


class ThumbnailError(Exception):
    """No frame could be read at that moment of that file."""


def peak_name(t: float) -> str:
    """A peak time as it appears in a thumbnail's name: seconds, at most two decimals ("3", "4.04")."""
    return f"{round(max(t, 0.0), 2):.2f}".rstrip("0").rstrip(".")


def parse_peak(text: str) -> float | None:
    """The time of a thumbnail name, or None unless it is spelled exactly as peak_name spells it."""
    if not _PEAK.fullmatch(text) or peak_name(float(text)) != text:
        return None
    return float(text)


def frame_jpeg(path: Path, t: float, box: tuple[int, int] = BOX) -> bytes:
    """The frame shown at `t` seconds, scaled to fit `box`, as JPEG bytes. OpenCV seeks to the keyframe before
    `t` and decodes up to the exact frame (the same frame indexing sampled there) and applies the rotation."""
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise ThumbnailError(f"cannot open {path}")
        capture.set(cv2.CAP_PROP_POS_MSEC, t * 1000.0)
        ok, bgr = capture.read()
    finally:
        capture.release()
    if not ok:
        raise ThumbnailError(f"no frame at {t:.2f} s in {path}")
    height, width = bgr.shape[:2]
    scale = min(box[0] / width, box[1] / height, 1.0)
    small = cv2.resize(bgr, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ThumbnailError("JPEG encoding failed")
    return jpeg.tobytes()


class ThumbnailCache:
    """JPEGs under `folder` as {video_id}/{peak}.jpg, at most `cap_bytes` in all.

    Entries never go stale (a video id names its content), so the only policy is the cap: writing past it
    deletes the entries read longest ago. The order lives in memory (file times are too coarse to order reads
    a few milliseconds apart); a read also touches the file, so a restart starts from the same order.
    """

    def __init__(self, folder: Path, cap_bytes: int):
        self.folder, self.cap = Path(folder), cap_bytes
        self._lock = threading.Lock()
        self._making = threading.BoundedSemaphore(max(1, (os.cpu_count() or 2) // 2))  # leave cores to requests
        found = sorted((p.stat().st_mtime_ns, p) for p in self.folder.glob("*/*.jpg"))
        self._sizes: OrderedDict[Path, int] = OrderedDict((p, p.stat().st_size) for _, p in found)
        self.bytes = sum(self._sizes.values())
        self._evict()

    def path(self, video_id: str, t: float) -> Path:
        return self.folder / video_id / f"{peak_name(t)}.jpg"

    def get(self, video_id: str, t: float, video_path: Path) -> bytes:
        path = self.path(video_id, t)
        with self._lock:
            if path in self._sizes:
                try:
                    jpeg = path.read_bytes()
                    os.utime(path)
                    self._sizes.move_to_end(path)
                    return jpeg
                except OSError:  # deleted behind our back: make it again
                    self.bytes -= self._sizes.pop(path)
        with self._making:  # outside the lock: cached thumbnails are served meanwhile
            jpeg = frame_jpeg(video_path, t)
        with self._lock:
            if len(jpeg) <= self.cap and path not in self._sizes:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
                tmp.write_bytes(jpeg)
                os.replace(tmp, path)
                self._sizes[path] = len(jpeg)
                self.bytes += len(jpeg)
                self._evict()
        return jpeg

    def _evict(self) -> None:
        while self.bytes > self.cap and self._sizes:
            path, size = self._sizes.popitem(last=False)
            path.unlink(missing_ok=True)
            self.bytes -= size
            log.debug("event=thumbnail_evicted path=%s bytes=%d", path, size)


def folder_link(folder: Path, video_file: Callable[[str], Path | None]) -> Callable[[str, float], str | None]:
    """A thumbnail link for the CLI: writes {folder}/{video_id}/{peak}.jpg (once) and gives its file:// URL;
    `video_file` finds a video's file (None: gone, and the clip gets no thumbnail_url)."""

    def link(video_id: str, t: float) -> str | None:
        out = Path(folder).resolve() / video_id / f"{peak_name(t)}.jpg"
        if not out.is_file():
            path = video_file(video_id)
            if path is None:
                return None
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(frame_jpeg(path, t))
        return out.as_uri()

    return link
