"""Long-file and realistic-mix benchmarks (rows for scripts/bench.py), each through a real `edge index` process.

- long file: a 720p H.264 + AAC file of --hours (default 10) built once and cached: a 3-minute piece (a minute
  of motion, a minute of talk, a minute of on-screen text) generated like the other bench media, then repeated
  by stream copy (packets re-timed, nothing re-encoded), so building 10 h costs seconds after the piece.
  Reported: indexing speed (all three sources), peak RSS of that process, and whether progress lines came
  all the way through the file.
- realistic mix: a folder of talk, on-screen text and silent footage clips, indexed with all three sources.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PIECE_S = 180
_CAMERA_OPTIONS = {"preset": "veryfast", "crf": "30"}  # ~1 Mbit/s: a 10 h file of ~4 GB, not 7


def _write(path: Path, spans, audio=None, size=(1280, 720), fps=25) -> None:
    """make_sample.write_video with a camera-like bitrate (the bench files are otherwise grain-heavy)."""
    import make_sample

    original = make_sample.add_video_stream

    def camera_stream(*args):
        stream = original(*args)
        stream.options = dict(_CAMERA_OPTIONS)
        return stream

    make_sample.add_video_stream = camera_stream
    try:
        make_sample.write_video(path, spans, size=size, fps=fps, audio=audio)
    finally:
        make_sample.add_video_stream = original


def _text_still(seconds: float) -> np.ndarray:
    from text_video import render_frame, typical_items

    items = [i for i in typical_items(seconds) if i.start <= 15 <= i.end]  # what a sample at 15 s shows
    return cv2.cvtColor(render_frame("coffee", items, 15.0), cv2.COLOR_BGR2RGB)


def make_piece(path: Path) -> None:
    """A minute each of motion (photos, slow zoom), talk (espeak news over a still) and on-screen text."""
    from make_sample import SR, room_tone
    from speech_media import NEWS, compose

    speech, _ = compose(NEWS)
    speech = np.resize(speech, 60 * SR) if len(speech) < 60 * SR else speech[: 60 * SR]
    audio = np.concatenate([room_tone(60), speech, room_tone(60, seed=1)])
    _write(path, [("motorcycle", 30), ("rocket", 30), ("astronaut", 60), (_text_still(60), 60)], audio=audio)


def build_long(cache: Path, hours: float, log) -> Path:
    """The long file, built once per length (cached under `cache`)."""
    cache.mkdir(parents=True, exist_ok=True)
    out = cache / f"long-{hours:g}h.mp4"
    if out.is_file():
        return out
    piece = cache / "long-piece.mp4"
    if not piece.is_file():
        t = time.perf_counter()
        make_piece(piece)
        log(f"long file: generated its {PIECE_S} s piece in {time.perf_counter() - t:.0f} s")
    t = time.perf_counter()
    repeats = max(1, round(hours * 3600 / PIECE_S))
    tmp = out.with_suffix(".tmp.mp4")
    with av.open(str(piece)) as src, av.open(str(tmp), "w") as dst:
        streams = {s.index: dst.add_stream_from_template(s) for s in (src.streams.video[0], src.streams.audio[0])}
        # Each stream's own span (first dts to last dts + duration): the next copy starts where it ended, so
        # timestamps keep increasing (AAC's priming packet has a negative dts; its span is not exactly 180 s).
        first, end = {}, {}
        for packet in src.demux(*[src.streams[i] for i in streams]):
            if packet.dts is not None:
                first.setdefault(packet.stream.index, packet.dts)
                end[packet.stream.index] = max(end.get(packet.stream.index, 0), packet.dts + packet.duration)
        length = {i: end[i] - first[i] for i in streams}
        for n in range(repeats):
            src.seek(0)
            for packet in src.demux(*[src.streams[i] for i in streams]):
                if packet.dts is None:
                    continue
                packet.pts += n * length[packet.stream.index]
                packet.dts += n * length[packet.stream.index]
                packet.stream = streams[packet.stream.index]
                dst.mux(packet)
    tmp.replace(out)
    log(
        f"long file: {repeats} x {PIECE_S} s by stream copy in {time.perf_counter() - t:.0f} s "
        f"({out.stat().st_size / 2**30:.2f} GiB)"
    )
    return out


def index_process(paths: list[Path], home: Path, env_extra: dict | None = None) -> dict:
    """`edge index` in a fresh process: wall time, its own peak RSS (wait4), its progress lines."""
    env = dict(os.environ, EDGE_HOME=str(home), **(env_extra or {}))
    t = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", "index", *map(str, paths)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"edge index exited {proc.returncode}: {stderr[-2000:]}")
    progress = [float(m) for m in re.findall(r"event=progress .*?at_s=(\d+)", stderr)]
    return {
        "wall_s": wall,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "progress_lines": len(progress),
        "last_progress_s": max(progress, default=0.0),
        "failed": stderr.count("event=failed"),
        "source_failed": re.findall(r"event=source_failed.*", stderr),
    }


def bench_long(cache: Path, tmp: Path, hours: float, row, log) -> None:
    from edge.decode import probe

    path = build_long(cache, hours, log)
    duration = probe(path).duration
    log(f"long file: indexing {duration / 3600:.1f} h with all three sources (edge index)")
    r = index_process([path], tmp / "long-home")
    note = f"{duration / 3600:.1f} h in {r['wall_s'] / 60:.1f} min"
    if r["failed"] or r["source_failed"]:
        note += f"; failed: {r['failed']} file(s), {r['source_failed'][:1]}"
    row(f"long file {hours:g} h 720p, all sources: x-realtime", duration / r["wall_s"], "x", note=note)
    row(f"long file {hours:g} h: peak RSS", r["peak_rss_mib"], "MiB", 1.5e9 / 2**20, "<=", note="1.5 GB")
    row(
        f"long file {hours:g} h: progress reached (share of the file)",
        r["last_progress_s"] / duration,
        "",
        0.95,
        note=f"{r['progress_lines']} progress lines",
    )


def make_mix(folder: Path) -> float:
    """Talk, on-screen text and silent footage (about a third each), 720p, with audio; returns the seconds."""
    from make_sample import room_tone, write_static
    from speech_media import NEWS, compose
    from text_video import TYPICAL_SCENES, typical_items, write_text_video

    folder.mkdir(parents=True, exist_ok=True)
    speech, _ = compose(NEWS)
    seconds = len(speech) / 16000
    _write(folder / "talk-news.mp4", [("astronaut", seconds)], audio=speech)
    _write(folder / "talk-street.mp4", [("motorcycle", seconds)], audio=speech[::-1].copy())  # speech-like noise
    write_text_video(folder / "text-captions.mp4", TYPICAL_SCENES, typical_items(60.0), fps=25)
    _write(folder / "silent-zoom.mp4", [("rocket", 30), ("cat", 30)], audio=room_tone(60))
    write_static(folder / "silent-camera.mp4", seconds=60, size=(1280, 720), fps=25, object_from=30)
    return sum(float(av.open(str(p)).duration / av.time_base) for p in sorted(folder.glob("*.mp4")))


def bench_mix(cache: Path, tmp: Path, row, log) -> None:
    folder = cache / "mix"
    if not (folder / "done.json").is_file():
        total = make_mix(folder)
        (folder / "done.json").write_text(json.dumps({"seconds": total}))
    total = json.loads((folder / "done.json").read_text())["seconds"]
    log(f"mix: indexing {total:.0f} s of talk, text and silent footage with all three sources")
    r = index_process([folder], tmp / "mix-home")
    row(
        "realistic mix (talk, text, silent), all sources: x-realtime",
        total / r["wall_s"],
        "x",
        5.0,
        note=f"{total:.0f} s in {r['wall_s']:.0f} s, peak RSS {r['peak_rss_mib']:.0f} MiB",
    )
