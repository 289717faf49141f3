"""Video files -> facts (probe) and timed RGB frames: ~1/s samples for the index, with bursts of dense frames.

The CPU decoder (PyAV) decodes only what the samples need. Packets are read one GOP (keyframe to keyframe)
ahead, so before decoding it is known which packet holds each sample (the first frame at or after each
sampling time):
- a GOP holding no sample is not decoded at all (short-GOP camera streams sampled at 1/s);
- a GOP's packets after its last sample are not decoded (the next GOP starts at a keyframe and shows no
  frame before it: open GOPs are decoded whole);
- inside the rest, frames no other frame references (B-frames, mostly) are skipped by FFmpeg itself
  (`skip_frame=NONREF`), except the sample packets, which are always decoded.
Every reference a sample needs precedes it in decode order, so the samples are exactly the frames
decoding everything would give, at the same times.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Protocol

import av
import cv2
import numpy as np

from edge.settings import DECODERS
from edge.types import VideoInfo

log = logging.getLogger("edge.decode")

VIDEO_EXTENSIONS = {
    ".mp4",
    ".m4v",
    ".mov",
    ".mkv",
    ".webm",
    ".avi",
    ".mpg",
    ".mpeg",
    ".ts",
    ".mts",
    ".m2ts",
    ".wmv",
    ".flv",
    ".3gp",
    ".ogv",
}
_GOP_BUFFER_BYTES = 64 << 20  # a stream without keyframes (intra refresh) is decoded in chunks, skipping nothing


class VideoError(Exception):
    """A file that cannot be used as a video; the message says why."""


class DecoderUnavailable(RuntimeError):
    """A decoder that cannot run here (library missing, no GPU, driver); the message says why."""


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


class FrameDecoder(Protocol):
    """What the indexer (and any stage wanting frames) sees of a decoder, CPU or GPU: one call.

    Frames are RGB uint8 HxWx3 in display orientation (rotation metadata applied). A GPU decoder's frames
    stay on the device and become numpy arrays through np.asarray (see edge/nvdec.py).
    """

    name: str

    def samples(
        self, path: Path, sample_fps: float, bursts: tuple[float, int, float] | None = None
    ) -> Iterator[tuple[float, np.ndarray]]:
        """(time in s, frame) for the first frame at or after each multiple of 1/sample_fps; with `bursts`
        (every_s, frames, fps) also, from every `every_s` seconds on, the next `frames` frames about `fps` a
        second (edge.actions' windows), in time order, a frame that is both yielded once."""


class _Selector:
    """Which frames, seen in display order, are samples or burst frames (FrameDecoder.samples)."""

    def __init__(self, step: float, bursts: tuple[float, int, float] | None):
        self.step, self.bursts = step, bursts
        self.next_t = self.next_burst = self.next_in_burst = 0.0
        self.left = 0

    def take(self, t: float) -> bool:
        if self.bursts and t + 1e-6 >= self.next_burst:
            every_s, self.left, _ = self.bursts
            self.next_in_burst = t
            self.next_burst += every_s * max(1, int((t - self.next_burst) / every_s) + 1)
        sample = t + 1e-6 >= self.next_t
        in_burst = self.left > 0 and t + 1e-6 >= self.next_in_burst
        if sample:
            self.next_t += self.step * max(1, int((t - self.next_t) / self.step) + 1)
        if in_burst:
            fps = self.bursts[2]
            self.left -= 1
            self.next_in_burst += max(1, int((t - self.next_in_burst) * fps) + 1) / fps
        return sample or in_burst


class CpuDecoder:
    """PyAV (FFmpeg) decoding on the CPU, skipping what no sample needs (module docstring)."""

    name = "cpu"

    def __init__(self, threads: int = 1, skip: bool = True):
        # One decode thread by default: the frame models hold the other core, and frame threads cost
        # CPU time (synchronisation) that a busy machine pays, where they only buy latency alone.
        self.threads, self.skip = threads, skip

    def _open(self, path: Path):
        try:
            container = av.open(str(path))
        except av.error.FFmpegError as exc:
            raise VideoError(f"not a readable video: {exc}") from exc
        if not container.streams.video:
            container.close()
            raise VideoError("no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "NONE" if self.threads == 1 else "AUTO"
        stream.codec_context.thread_count = self.threads
        return container, stream

    def samples(
        self, path: Path, sample_fps: float = 1.0, bursts: tuple[float, int, float] | None = None
    ) -> Iterator[tuple[float, np.ndarray]]:
        select = _Selector(1.0 / sample_fps, bursts)
        container, stream = self._open(path)
        tb, start = stream.time_base, stream.start_time or 0
        codec = stream.codec_context
        wanted: set[int] = set()  # pts of planned samples not decoded yet

        def emit(frames) -> Iterator[tuple[float, np.ndarray]]:
            for frame in frames:
                if frame.pts in wanted:
                    wanted.discard(frame.pts)
                    yield float((frame.pts - start) * tb), _rgb(frame)

        try:
            for gop, alone in _gops(container, stream):
                if any(p.pts is None for p in gop):  # no timestamps to plan with: decode all, times as decoded
                    codec.skip_frame = "DEFAULT"
                    for frame in (f for p in gop for f in codec.decode(p)):
                        t = float((frame.pts - start) * tb) if frame.pts is not None else select.next_t
                        if select.take(t):
                            yield t, _rgb(frame)
                    continue
                plan = _plan(gop, select, start, tb)
                wanted.update(plan)
                if self.skip and alone:  # nothing outside the GOP needs its frames: stop at its last sample
                    gop = gop[: max((i + 1 for i, p in enumerate(gop) if p.pts in plan), default=0)]
                for packet in gop:
                    if self.skip:
                        codec.skip_frame = "DEFAULT" if packet.pts in plan else "NONREF"
                    yield from emit(codec.decode(packet))
            codec.skip_frame = "DEFAULT"
            yield from emit(codec.decode(None))
        except av.error.FFmpegError:
            return  # a damaged tail ends decoding; the indexer judges whether enough was read
        finally:
            container.close()


def _gops(container, stream) -> Iterator[tuple[list, bool]]:
    """The stream's packets one GOP at a time, and whether that GOP decodes alone: it starts at a keyframe and
    no later packet references into it, because the next GOP starts at a clean random access point (_clean).
    The next GOP is read before a GOP is handed out, so both are known."""
    codec = stream.codec_context
    length_size = _nal_length_size(codec.name, codec.extradata)
    previous, gop, size = None, [], 0
    try:
        for packet in container.demux(stream):
            if packet.size == 0:  # the demuxer's end-of-stream marker
                continue
            if gop and (packet.is_keyframe or size > _GOP_BUFFER_BYTES):
                if previous:
                    yield previous, previous[0].is_keyframe and _clean(gop, codec.name, length_size)
                previous, gop, size = gop, [], 0
            gop.append(packet)
            size += packet.size
    except av.error.FFmpegError:
        pass  # a damaged tail: what was read is still decoded
    if previous:
        yield previous, bool(gop) and previous[0].is_keyframe and _clean(gop, codec.name, length_size)
    if gop:
        yield gop, gop[0].is_keyframe


def _clean(gop: list, codec: str, length_size: int) -> bool:
    """Whether decoding can start at this GOP's first packet with nothing before it decoded.

    H.264 / HEVC: only at an IDR (or HEVC BLA) picture; an I-frame of an open GOP (H.264 recovery point, HEVC
    CRA) keeps the frames before it as references. Other codecs: a keyframe with no frame shown before it."""
    key = gop[0]
    if not key.is_keyframe or key.pts is None:
        return False
    if codec in ("h264", "hevc"):
        types = list(_nal_types(bytes(key), length_size, codec))
        return any(t == 5 for t in types) if codec == "h264" else any(16 <= t <= 20 for t in types)
    return all(p.pts is not None and p.pts >= key.pts for p in gop)


def _nal_length_size(codec: str, extradata: bytes | None) -> int:
    """Bytes of each NAL unit's length prefix (MP4 / MKV store H.264 and HEVC that way); 0: Annex B start codes."""
    if codec not in ("h264", "hevc") or not extradata or extradata[0] != 1:
        return 0
    return (extradata[4] if codec == "h264" else extradata[21]) % 4 + 1


def _nal_types(data: bytes, length_size: int, codec: str) -> Iterator[int]:
    """The NAL unit types in one H.264 / HEVC packet (length-prefixed, or Annex B when length_size is 0)."""
    if length_size:
        headers, i = [], 0
        while i + length_size < len(data):
            headers.append(data[i + length_size])
            i += length_size + int.from_bytes(data[i : i + length_size], "big")
    else:
        headers = [data[m.end()] for m in re.finditer(b"\x00\x00\x01", data) if m.end() < len(data)]
    for header in headers:
        yield header & 0x1F if codec == "h264" else (header >> 1) & 0x3F


def _plan(gop: list, select: _Selector, start: int, tb) -> set[int]:
    """The pts of the GOP's frames the selector takes (its packets' timestamps, in display order)."""
    return {pts for pts in sorted(p.pts for p in gop) if select.take(float((pts - start) * tb))}


def _rgb(frame) -> np.ndarray:
    """RGB in display orientation (PyAV reports the display matrix's rotation, counter-clockwise)."""
    rgb = frame.to_ndarray(format="rgb24")
    turns = (frame.rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


@cache
def choose_decoder(preference: str = "auto", gpu_id: int = 0) -> FrameDecoder:
    """The decoder for EDGE_DECODER: `auto` takes NVDEC (edge/nvdec.py) when it loads and the CPU decoder
    otherwise, logging the one-line reason; `nvdec` fails when it cannot load; `cpu` never tries the GPU."""
    if preference not in DECODERS:
        raise ValueError(f"unknown decoder {preference!r}; use one of {', '.join(DECODERS)}")
    if preference == "cpu":
        return CpuDecoder()
    try:
        from edge.nvdec import NvdecDecoder

        decoder = NvdecDecoder.open(gpu_id)
    except DecoderUnavailable as exc:
        if preference == "nvdec":
            raise DecoderUnavailable(f"EDGE_DECODER=nvdec, but NVDEC cannot be used: {exc}") from exc
        log.info("event=decoder name=cpu reason=%r", str(exc))
        return CpuDecoder()
    log.info("event=decoder name=%s", decoder.name)
    return decoder


def sample_frames(
    path: Path, sample_fps: float = 1.0, bursts: tuple[float, int, float] | None = None
) -> Iterator[tuple[float, np.ndarray]]:
    """(time in s, RGB frame) about `sample_fps` times a second (and the `bursts`), from the CPU decoder."""
    return CpuDecoder().samples(Path(path), sample_fps, bursts)
