"""Action evidence cost: CPU-seconds of the I3D windows per second of video, with and without the motion gate,
and visual indexing with actions on 720p footage.

    python scripts/bench_actions.py [--seconds 60]

"Typical footage" is real: the development set's action videos (scripts/action_media.py: people kicking,
walking, crying and laughing, talking, a city time-lapse) letterboxed to 1280x720 at 25 fps and joined with
hard cuts until `--seconds` are filled. Beside it, the photo montage and the fixed camera of scripts/bench.py.
Action cost is process CPU time spent in ActionWindows.feed (decoding excluded: it is the same frames the
index decodes anyway; the window crops, the gate and the model are in), once with the gate and once with
every window classified. Indexing rows run the real Indexer (visual source), actions on and off.
Models come from EDGE_MODELS_DIR; it measures, it does not gate.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from action_media import write_action_videos  # noqa: E402  (scripts, not a package)
from bench_ocr import _row  # noqa: E402
from make_sample import PHOTOS, write_static, write_video  # noqa: E402

from edge.actions import WINDOW_FPS, WINDOW_FRAMES, ActionWindows  # noqa: E402
from edge.decode import probe, sample_frames  # noqa: E402

SIZE, FPS = (1280, 720), 25
TARGET_X_REALTIME = 5.0  # visual indexing with actions on typical footage, on the 2-core reference machine


def _letterbox(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    scale = min(SIZE[0] / w, SIZE[1] / h)
    small = cv2.resize(frame, (round(w * scale) // 2 * 2, round(h * scale) // 2 * 2), interpolation=cv2.INTER_AREA)
    out = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    y, x = (SIZE[1] - small.shape[0]) // 2, (SIZE[0] - small.shape[1]) // 2
    out[y : y + small.shape[0], x : x + small.shape[1]] = small
    return out


def write_typical(path: Path, media_dir: Path, seconds: float) -> None:
    """The action videos one after another (each at its own pace, resampled to 25 fps), looped to `seconds`."""
    clips = sorted(write_action_videos(media_dir))
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        n, total = 0, int(seconds * FPS)
        while n < total:
            for name in clips:
                for _, frame in sample_frames(media_dir / name, FPS):
                    if n >= total:
                        break
                    video_frame = av.VideoFrame.from_ndarray(_letterbox(frame), format="rgb24")
                    video_frame.pts = n
                    out.mux(stream.encode(video_frame))
                    n += 1
        out.mux(stream.encode())


class _Ungated(ActionWindows):
    """Every window classified: what the motion gate saves."""

    def _moving(self) -> bool:
        return True


def action_cost(path: Path, model, every_s: float, gated: bool) -> tuple[float, int, int]:
    """(CPU-s per video-second, windows, windows classified) of the action windows alone."""
    windows = (ActionWindows if gated else _Ungated)(model, every_s)
    cpu = 0.0
    for t, frame in sample_frames(path, 1.0, (every_s, WINDOW_FRAMES, WINDOW_FPS)):  # as the indexer decodes
        t0 = time.process_time()
        windows.feed(t, frame)
        cpu += time.process_time() - t0
    t0 = time.process_time()
    windows.finish()
    cpu += time.process_time() - t0
    return cpu / probe(path).duration, len(windows.windows), windows.classified


def index_speed(path: Path, home: Path, every_s: float) -> tuple[float, float, str]:
    """(x-realtime, CPU-s per video-second) of indexing one video for the visual source, in a fresh store."""
    from edge.appliance import Edge
    from edge.settings import load_settings

    overrides = {"EDGE_HOME": str(home), "EDGE_SOURCES": "visual", "EDGE_ACTION_EVERY": f"{every_s:g}"}
    saved = {name: os.environ.get(name) for name in overrides}
    os.environ.update(overrides)
    try:
        edge = Edge(load_settings())
    finally:  # the caller's settings stay as they were
        for name, value in saved.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value
    lines: list[str] = []
    indexer = edge.indexer(progress=lines.append)
    edge.bundle.image_encoder.encode([np.zeros((720, 1280, 3), np.uint8)])  # sessions open outside the timing
    duration = probe(path).duration
    wall, cpu = time.perf_counter(), time.process_time()
    report = indexer.index([path])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if report.failed:
        raise RuntimeError(f"indexing {path} failed: {report.failed}")
    stats = next((line for line in lines if "event=indexed" in line), "")
    detail = " ".join(w for w in stats.split() if w.startswith(("encoded=", "action_")))
    return duration / wall, cpu / duration, detail


def bench_actions(models_dir: Path, seconds: float = 60.0, log=print) -> list[dict]:
    from edge.actions import ActionModel
    from edge.bundles import ACTION_MODEL
    from edge.modelfiles import model_key, model_path

    rows = []
    with tempfile.TemporaryDirectory(prefix="edge-bench-actions-") as tmp:
        tmp = Path(tmp)
        videos = {
            "typical 720p (real footage)": tmp / "typical.mp4",
            "photo montage 720p": tmp / "montage.mp4",
            "fixed camera 720p": tmp / "static.mp4",
        }
        write_typical(videos["typical 720p (real footage)"], tmp / "media", seconds)
        spans = [(name, seconds / len(PHOTOS)) for name in PHOTOS]
        write_video(videos["photo montage 720p"], spans, size=SIZE, fps=FPS)
        write_static(videos["fixed camera 720p"], seconds=int(seconds), size=SIZE, fps=FPS, object_from=seconds / 2)
        log(f"videos ready: {', '.join(videos)}")
        model = ActionModel(
            model_path(models_dir, ACTION_MODEL, "model.onnx"),
            model_path(models_dir, ACTION_MODEL, "labels.txt"),
            model_key(ACTION_MODEL),
            threads=1,
        )
        model.probabilities(np.zeros((1, 16, 224, 224, 3), np.uint8))  # session and first-run allocations
        every = 4.0
        for label, path in videos.items():
            for gated in (False, True) if label.startswith("typical") else (True,):
                cost, n, classified = action_cost(path, model, every, gated)
                gate = "with motion gate" if gated else "no gate"
                log(f"actions {label} {gate}: {cost:.3f} CPU-s/s ({classified}/{n} windows classified)")
                rows.append(
                    _row(
                        f"actions {label}, {gate}: CPU-s per video-s",
                        cost,
                        "s",
                        note=(f"one window every {every:g} s, {classified} of {n} classified, 1 thread"),
                    )
                )
        for every_s in (4.0, 0.0):
            speed, cpu, detail = index_speed(videos["typical 720p (real footage)"], tmp / f"home-{every_s:g}", every_s)
            what = f"actions every {every_s:g} s" if every_s else "actions off"
            log(f"index typical 720p, {what}: {speed:.1f}x realtime, {cpu:.3f} CPU-s/s ({detail})")
            rows.append(
                _row(
                    f"index typical 720p visual, {what}: x-realtime",
                    speed,
                    "x",
                    TARGET_X_REALTIME if every_s else None,
                    op=">=",
                    note=f"{cpu:.3f} CPU-s per video-s; {detail}",
                )
            )
    return rows


def main(argv=None) -> None:
    from edge.settings import load_settings

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args(argv)
    rows = bench_actions(load_settings().models_dir, args.seconds, log=lambda m: print(m, file=sys.stderr))
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
