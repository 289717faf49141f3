"""A video's audio track -> 16 kHz mono float32 samples (PyAV demux and resample; no system ffmpeg)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

SAMPLE_RATE = 16_000  # what Whisper's features are computed at


class AudioError(Exception):
    """The audio track exists but cannot be decoded."""


def load_audio(path: Path) -> np.ndarray | None:
    """The first audio track, downmixed and resampled; None when the file has no audio track."""
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise AudioError(f"cannot open {path}: {exc}") from exc
    with container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        chunks = []
        try:
            for frame in container.decode(stream):
                chunks.extend(r.to_ndarray().reshape(-1) for r in resampler.resample(frame))
            chunks.extend(r.to_ndarray().reshape(-1) for r in resampler.resample(None))
        except (av.FFmpegError, ValueError) as exc:
            raise AudioError(f"audio track of {path} is broken: {exc}") from exc
    if not chunks:
        raise AudioError(f"audio track of {path} holds no decodable samples")
    return np.concatenate(chunks).astype(np.float32, copy=False)
