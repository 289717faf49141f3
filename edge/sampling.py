"""Frames -> samples: one decode of a video handed to the frame consumers (the visual sampler, the OCR reader)
on a thread of its own at background priority, and the change gate that spares fixed cameras the models."""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from edge.actions import WINDOW_FPS, WINDOW_FRAMES, ActionWindows, sample_weights
from edge.decode import FrameDecoder, VideoError, choose_decoder
from edge.pipeline import fan_out
from edge.types import Segments, VideoInfo

log = logging.getLogger("edge.index")

_BATCH = 8
_PROGRESS_EVERY = 8 * _BATCH  # samples between progress lines within one long video
_FINISH_CHUNK = 4096  # samples given their action weights at a time at the end of a video


class ChangeGate:
    """Fixed cameras show the same picture for minutes: encode a sample only when it changed.

    A sample counts as changed when any cell of a 32x18 grey thumbnail moved by more than `threshold`
    grey levels since the last encoded sample (sensor noise averages out over a cell; a small object
    entering does not), or when `max_gap_s` has passed since it. Unchanged samples reuse that vector.
    """

    def __init__(self, threshold: float = 4.0, max_gap_s: float = 30.0):
        self.threshold, self.max_gap_s = threshold, max_gap_s
        self._last: np.ndarray | None = None
        self._last_t = 0.0

    def changed(self, t: float, frame: np.ndarray) -> bool:
        if isinstance(frame, np.ndarray):
            thumb = cv2.resize(frame, (32, 18), interpolation=cv2.INTER_AREA).astype(np.float32).mean(axis=2)
        else:  # a frame in GPU memory (edge.nvdec.DeviceFrame): only the thumbnail comes to the host
            thumb = frame.thumbnail(32, 18)
        if (
            self._last is None
            or t - self._last_t >= self.max_gap_s
            or np.abs(thumb - self._last).max() > self.threshold
        ):
            self._last, self._last_t = thumb, t
            return True
        return False


class VisualSampler:
    """Takes every sample; encodes the changed ones in batches, and each sample keeps the vector it uses.

    With an action model (a ConSE encoder built with one) it also takes the dense frames (`feed_dense`),
    keeps the frames' mixes before they are made unit length (ConseImageEncoder.frame_mix), and adds each
    sample's action weights at the end (edge.actions, edge.conse).
    """

    def __init__(self, image_encoder):
        self.image_encoder, self.gate = image_encoder, ChangeGate()
        # GPU frames (edge.nvdec) stay on the device when the encoder runs there too
        self.device_frames = getattr(image_encoder, "device_frames", False)
        self._batch_size = getattr(image_encoder, "batch", _BATCH)
        self.encoded = 0
        self._vectors, self._batch, self._rows = [], [], []  # rows[i]: the encoded vector sample i uses
        actions = getattr(image_encoder, "actions", None)
        self.actions = ActionWindows(actions, image_encoder.action_every_s) if actions else None
        self._encode = image_encoder.frame_mix if self.actions else image_encoder.encode

    @property
    def bursts(self) -> tuple[float, int, float]:
        """What the decoder must add to the samples: the action windows' frames (edge.decode.sample_frames)."""
        return self.actions.every_s, WINDOW_FRAMES, WINDOW_FPS

    def feed_dense(self, t: float, frame: np.ndarray) -> None:
        # Action windows are cropped and their motion measured on the host (OpenCV): a frame left in GPU memory
        # (edge.nvdec.DeviceFrame, when the frame models run there) comes over here, once.
        self.actions.feed(t, frame if isinstance(frame, np.ndarray) else np.asarray(frame))

    def feed(self, t: float, frame: np.ndarray) -> None:
        if self.gate.changed(t, frame):
            self._batch.append(frame)
            self.encoded += 1
        self._rows.append(self.encoded - 1)
        if len(self._batch) == self._batch_size:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            vectors = self._encode(self._batch)
            # unit vectors are kept as they are stored; mixes waiting for their actions stay float32 until then
            self._vectors.append(vectors if self.actions else vectors.astype(np.float16))
            self._batch = []

    def segments(self, starts: np.ndarray, ends: np.ndarray) -> Segments:
        self._flush()
        batches, self._vectors = self._vectors, []
        rows = np.asarray(self._rows)  # rows[i]: the encoded vector sample i uses (never decreasing)
        if not self.actions:
            return Segments(starts, ends, np.concatenate(batches)[rows])
        # A chunk of samples at a time, each batch let go once behind it: a 10-hour file has 36,000 samples, and
        # gathering, mixing with the actions and normalising them whole had held ~210 MiB more at its end.
        encoder, windows = self.image_encoder, self.actions.finish()
        first = np.cumsum([0] + [len(b) for b in batches])  # the encoded index of each batch's first vector
        out = np.empty((len(rows), batches[0].shape[1]), np.float16)
        for a in range(0, len(rows), _FINISH_CHUNK):
            chunk = rows[a : a + _FINISH_CHUNK]
            lo, hi = (int(np.searchsorted(first, r, side="right")) - 1 for r in (chunk[0], chunk[-1]))
            batches[:lo] = [None] * lo
            mixes = np.concatenate(batches[lo : hi + 1])[chunk - first[lo]]
            actions = sample_weights(
                windows,
                starts[a : a + len(chunk)],
                ends[a : a + len(chunk)],
                encoder.action_every_s,
                len(encoder.actions.labels),
            )
            out[a : a + len(chunk)] = encoder.with_actions(mixes, actions)
        return Segments(starts, ends, out)


def return_free_memory() -> None:
    """Hand freed heap pages back to the system (glibc's malloc_trim). glibc keeps what a thread frees in that
    thread's arena for reuse; with the decoder, the frame models, OCR and speech each allocating on threads of
    their own, a 10-hour index held ~500 MiB in ten such arenas 25 minutes in, and its RSS crept up with the file."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    """glibc's malloc_trim, looked up once (it runs every 64 samples); None where libc is not glibc."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):  # musl, macOS, Windows: nothing to trim
        return None


def _background_priority(nice: int) -> None:
    """Lower the calling thread's CPU priority by `nice` (EDGE_FRAME_NICE; Linux nice values are per thread, and
    threads it starts inherit them)."""
    if nice > 0 and hasattr(os, "setpriority"):
        tid = threading.get_native_id()
        try:
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
        except OSError as exc:
            log.debug("event=nice_failed error=%s", exc)


def scan_samples(
    path: Path,
    info: VideoInfo,
    sample_fps: float,
    consumers: list[Callable[[float, np.ndarray], None]],
    progress: Callable[[str], None] | None = None,
    nice: int = 10,
    dense: tuple[tuple[float, int, float], list[Callable[[float, np.ndarray], None]]] | None = None,
    decoder: FrameDecoder | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Decode the samples once (`decoder`, default: NVDEC if it loads, else CPU) and hand each to every
    consumer, each on a thread of its own (edge.pipeline); return the samples' (starts, ends).

    `dense` = (bursts, consumers): the decoder adds those bursts of frames (edge.decode.sample_frames; the
    action windows), which only these consumers get, with the samples; the others get the samples alone.

    Runs on a thread of its own at background priority (EDGE_FRAME_NICE, default 10), with the decoder and
    the frame models (single-threaded sessions) under it: speech (whisper.cpp, whose threads spin at
    barriers and collapse 5x when sharing cores) and API requests then get the CPU first, while frame work
    alone on the machine runs as fast as ever.
    """
    result: list = []

    def run():
        _background_priority(nice)
        try:
            result.append(_scan(path, info, sample_fps, consumers, progress, dense, decoder or choose_decoder()))
        except BaseException as exc:  # re-raised in the caller's thread
            result.append(exc)

    worker = threading.Thread(target=run, name="frames", daemon=True)
    worker.start()
    worker.join()
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


def _scan(
    path: Path, info: VideoInfo, sample_fps: float, consumers, progress, dense, decoder: FrameDecoder
) -> tuple[np.ndarray, np.ndarray]:
    step = 1.0 / sample_fps
    times = []
    bursts, dense_consumers = dense or (None, [])
    frames = decoder.samples(path, sample_fps, bursts)
    for t in fan_out(frames, consumers, dense_consumers, step if bursts else None):
        times.append(t)
        if len(times) % _PROGRESS_EVERY == 0:
            return_free_memory()
            if progress:
                progress(f"event=progress path={path} at_s={t:.0f} duration_s={info.duration:.0f}")
    if not times:
        raise VideoError("no frame could be decoded")
    # A file cut short (still being copied, damaged) would answer for a video it does not hold.
    if times[-1] < info.duration - max(2 * step, 0.1 * info.duration):
        raise VideoError(f"truncated or corrupt: frames decode only up to {times[-1]:.1f} s of {info.duration:.1f} s")
    starts = np.asarray(times, np.float32)
    ends = np.minimum(starts + step, max(info.duration, float(starts[-1]) + step)).astype(np.float32)
    return starts, ends
