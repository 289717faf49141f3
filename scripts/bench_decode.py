"""Decode steps measured side by side (rows for scripts/bench.py): what each step of edge.decode buys.

Each variant samples the same video at 1/s; best of `reps` runs, wall time and CPU time of this process
(the CPU time is what a busy 2-core machine pays; wall time alone on a shared host is noisy). Ratios are
against OpenCV's grab-every-frame / retrieve-the-samples loop, the decoder edge used before.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import cv2

import edge.decode as decode
from edge.decode import CpuDecoder


def opencv_samples(path: Path, sample_fps: float = 1.0):
    """The former decoder: every frame grabbed, the samples retrieved and colour-converted."""
    capture = cv2.VideoCapture(str(path))
    step, next_t = 1.0 / sample_fps, 0.0
    try:
        while capture.grab():
            t = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if t + 1e-6 < next_t:
                continue
            ok, bgr = capture.retrieve()
            if not ok:
                break
            yield t, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            next_t += step * max(1, int((t - next_t) / step) + 1)
    finally:
        capture.release()


def _model_size(frame):
    """'Decoding straight to the model's size': swscale converts and scales in one pass."""
    return frame.to_ndarray(format="rgb24", width=300, height=300)


def _planned_to_model_size(path: Path, fps: float):
    original = decode._rgb
    decode._rgb = _model_size
    try:
        yield from CpuDecoder().samples(path, fps)
    finally:
        decode._rgb = original


VARIANTS = {
    "OpenCV (before)": opencv_samples,
    "PyAV, every frame, 1 thread": CpuDecoder(threads=1, skip=False).samples,
    "PyAV, every frame, frame threads": CpuDecoder(threads=0, skip=False).samples,
    "PyAV planned, 1 thread (adopted)": CpuDecoder(threads=1, skip=True).samples,
    "PyAV planned, frame threads": CpuDecoder(threads=0, skip=True).samples,
    "PyAV planned, to 300x300": _planned_to_model_size,
}
SHORT = ("OpenCV (before)", "PyAV planned, 1 thread (adopted)")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(path: Path, variants: dict, reps: int) -> dict[str, tuple[float, float]]:
    """{variant: (best wall s, best CPU s)}, the variants interleaved within each repetition."""
    best = {name: (float("inf"), float("inf")) for name in variants}
    for _ in range(reps):
        for name, samples in variants.items():
            wall, cpu = time.perf_counter(), _cpu()
            for _ in samples(path, 1.0):
                pass
            wall, cpu = time.perf_counter() - wall, _cpu() - cpu
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return best


def bench_decode_steps(videos: dict[str, Path], duration_of, row, log, reps: int = 3) -> None:
    for label, path in videos.items():
        variants = VARIANTS if label in ("720p", "1080p") else {k: VARIANTS[k] for k in SHORT}
        duration = duration_of(path)
        best = measure(path, variants, reps)
        base_wall, base_cpu = best["OpenCV (before)"]
        for name, (wall, cpu) in best.items():
            log(f"decode {label} {name}: wall {wall:.2f} s, cpu {cpu:.2f} s")
            row(
                f"decode {label}, {name}: x-realtime",
                duration / wall,
                "x",
                note=f"CPU {60 * cpu / duration:.2f} s per min of video; vs OpenCV: wall x{base_wall / wall:.2f}, "
                f"CPU x{base_cpu / cpu:.2f} (best of {reps})",
            )


def write_camera_variants(tmp: Path, seconds: float, log) -> dict[str, Path]:
    """The bench's 720p footage as two other encoders would write it: x264's defaults (10 s GOP, B-frames) and a
    camera's (1 s GOP, no B-frames). Only the decode rows use them."""
    import make_sample

    encodings = {
        "720p x264 defaults": "keyint=250:bframes=3",
        "720p camera (1 s GOP, no B)": "keyint=25:min-keyint=25:scenecut=0:bframes=0",
    }
    out, original = {}, make_sample.add_video_stream
    spans = [(name, seconds / len(make_sample.PHOTOS)) for name in make_sample.PHOTOS]
    for label, params in encodings.items():

        def stream_with(*args, params=params):
            stream = original(*args)
            stream.options = {"preset": "veryfast", "crf": "23", "x264-params": params}
            return stream

        make_sample.add_video_stream = stream_with
        try:
            t = time.perf_counter()
            out[label] = tmp / f"bench-{label.split()[1]}.mp4"
            make_sample.write_video(out[label], spans, size=(1280, 720), fps=25)
            log(f"generated {out[label].name} ({label}) in {time.perf_counter() - t:.1f} s")
        finally:
            make_sample.add_video_stream = original
    return out
