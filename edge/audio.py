"""A video's audio track -> 16 kHz mono float32 samples (PyAV demux and resample; no system ffmpeg), as a stream.

A 10-hour track is 2.3 GB of samples: it is never held whole. `audio_blocks` decodes and resamples it in
blocks of a few seconds (the resampler keeps its filter state across them, so the samples are exactly those
of one pass over the file); the transcriber consumes them as they come.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

SAMPLE_RATE = 16_000  # what Whisper's features are computed at
BLOCK_S = 4.0  # samples handed on at a time


class AudioError(Exception):
    """The audio track exists but cannot be decoded."""


def audio_blocks(path: Path, block_s: float = BLOCK_S) -> Iterator[np.ndarray] | None:
    """The first audio track, downmixed and resampled, in blocks of about `block_s` seconds; None when the
    file has no audio track. Decoding errors surface as AudioError while the blocks are read."""
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise AudioError(f"cannot open {path}: {exc}") from exc
    if not container.streams.audio:
        container.close()
        return None
    return _decode(container, Path(path), round(block_s * SAMPLE_RATE))


def _decode(container, path: Path, block: int) -> Iterator[np.ndarray]:
    with container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        pending: list[np.ndarray] = []
        held = produced = 0
        try:
            for frame in _frames(container, stream):
                for r in resampler.resample(frame):
                    pending.append(r.to_ndarray().reshape(-1))
                    held += pending[-1].size
                if held >= block:
                    produced += held
                    yield np.concatenate(pending).astype(np.float32, copy=False)
                    pending, held = [], 0
        except (av.FFmpegError, ValueError) as exc:
            raise AudioError(f"audio track of {path} is broken: {exc}") from exc
        if held:
            produced += held
            yield np.concatenate(pending).astype(np.float32, copy=False)
        if not produced:
            raise AudioError(f"audio track of {path} holds no decodable samples")


def _frames(container, stream):
    """The track's frames, then None: the resampler's flush."""
    yield from container.decode(stream)
    yield None


def load_audio(path: Path) -> np.ndarray | None:
    """The whole track as one array (short clips and tests; indexing streams with `audio_blocks`)."""
    blocks = audio_blocks(path)
    return None if blocks is None else np.concatenate(list(blocks))
