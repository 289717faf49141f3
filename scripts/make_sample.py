"""Sample and broken test media for edge, built offline from photos bundled in scikit-image.

Each photo stands in for a "scene": it is fitted into the frame with a slow Ken-Burns
zoom/pan plus grain, so consecutive frames differ the way real footage does, and spans are
joined by hard cuts whose true times are returned. Output is H.264/AAC MP4 via PyAV, which
is what phones and cameras produce; everything is seeded, so reruns give identical bytes.

    python scripts/make_sample.py OUT_DIR
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import deque
from pathlib import Path

import av
import cv2
import numpy as np
from skimage import data

SR = 16_000  # audio sample rate used throughout edge


def _rgb(a: np.ndarray) -> np.ndarray:
    return np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a[..., :3]


# Only images shipped inside the wheel (skimage/data/*.png|jpg): these never hit the network.
PHOTOS = {
    "cat": data.chelsea,
    "coffee": data.coffee,
    "rocket": data.rocket,
    "astronaut": data.astronaut,
    "motorcycle": lambda: data.stereo_motorcycle()[0],
    "camera": lambda: _rgb(data.camera()),
    "hubble": data.hubble_deep_field,
}

# libx264 ships in PyAV's wheels; fall back to MPEG-4 Part 2 so a stripped build still works.
_ENCODERS = {"h264": "libx264" if "libx264" in av.codecs_available else "mpeg4", "mp4v": "mpeg4"}


def _i420(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Photo -> (Y, U, V) planes, BT.601 limited range (what decoders assume when untagged).

    Converting the small photo once and scaling its planes straight into the output planes
    avoids an RGB->YUV conversion of every 720p frame.
    """
    h, w = rgb.shape[0] & ~1, rgb.shape[1] & ~1
    yuv = cv2.cvtColor(np.ascontiguousarray(rgb[:h, :w]), cv2.COLOR_RGB2YUV_I420)
    flat, n = yuv.ravel(), h * w  # U and V follow Y as flat quarter-size planes
    return (yuv[:h], flat[n : n + n // 4].reshape(h // 2, w // 2), flat[n + n // 4 :].reshape(h // 2, w // 2))


def _place(plane, s, cx, cy, W, H, fill):
    """Scale `plane` by s about source point (cx, cy), centred in a WxH canvas of `fill`.

    Crop-then-resize is ~5x faster than warpAffine at 720p; rounding the paste offset costs
    at most half an output pixel of drift, invisible in a slow zoom.
    """
    h, w = plane.shape
    x0, y0 = cx - W / (2 * s), cy - H / (2 * s)  # source coords of the canvas's top-left
    ix0, iy0 = max(int(x0), 0), max(int(y0), 0)
    ix1, iy1 = min(math.ceil(x0 + W / s) + 1, w), min(math.ceil(y0 + H / s) + 1, h)
    r = cv2.resize(plane[iy0:iy1, ix0:ix1], (round((ix1 - ix0) * s), round((iy1 - iy0) * s)))
    ox, oy = round((ix0 - x0) * s), round((iy0 - y0) * s)
    r = r[max(-oy, 0) :, max(-ox, 0) :][: H - max(oy, 0), : W - max(ox, 0)]
    out = np.full((H, W), fill, np.uint8)
    out[max(oy, 0) : max(oy, 0) + r.shape[0], max(ox, 0) : max(ox, 0) + r.shape[1]] = r
    return out


def _render_span(rgb, n, size, rng):
    """Yield n (Y, U, V) frames of one photo: fit with aspect kept, zoom 1->1.12, slight pan."""
    W, H = size
    y, u, v = _i420(rgb)
    h, w = y.shape
    fit = min(W / w, H / h)
    pan = rng.uniform(-0.03, 0.03, 2) * (w, h)  # centre drift over the whole span, in pixels
    # Grain is added at source resolution, so upscaling softens it like sensor noise;
    # a small bank reused cyclically avoids drawing fresh normals every frame.
    grain = [np.rint(rng.normal(0, 1.2, (h, w))).astype(np.int16) for _ in range(5)]
    for i in range(n):
        p = i / max(n - 1, 1)
        s = fit * (1 + 0.12 * p)
        cx, cy = (w / 2, h / 2) + (p - 0.5) * pan
        yn = cv2.add(y, grain[i % len(grain)], dtype=cv2.CV_8U)
        yield (
            _place(yn, s, cx, cy, W, H, 16),  # limited-range black bars
            _place(u, s, cx / 2, cy / 2, W // 2, H // 2, 128),
            _place(v, s, cx / 2, cy / 2, W // 2, H // 2, 128),
        )


def _audio_frames(audio: np.ndarray, n_samples: int):
    """Mono float32 @16 kHz, padded/trimmed to the video length, as 1024-sample AAC frames."""
    a = np.zeros(n_samples, np.float32)
    a[: min(len(audio), n_samples)] = audio[:n_samples]
    for start in range(0, n_samples, 1024):
        f = av.AudioFrame.from_ndarray(a[None, start : start + 1024], format="fltp", layout="mono")
        f.sample_rate, f.pts = SR, start
        yield f


def _add_audio(container):
    return container.add_stream("aac", rate=SR, layout="mono", bit_rate=48_000)


def add_video_stream(out, codec: str, fps: int, width: int, height: int):
    """A yuv420p stream as cameras write it: 2 s GOP (scene cuts add IDRs), BT.601 limited range tagged."""
    vs = out.add_stream(_ENCODERS[codec], rate=fps)
    vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
    vs.codec_context.gop_size = 2 * fps
    # Tag what _i420 produced so players pick the matching matrix.
    vs.codec_context.colorspace = av.video.reformatter.Colorspace.SMPTE170M
    vs.codec_context.color_range = av.video.reformatter.ColorRange.MPEG
    if vs.codec_context.name == "libx264":
        vs.options = {"preset": "superfast", "crf": "23"}
    else:
        vs.bit_rate = 4_000_000
    return vs


def mux_i420(out, vs, frames, audio, n_frames: int, fps: int, rotate: int = 0) -> None:
    """Encode I420 plane triples (turned by `rotate` degrees) as frames 0, 1, ... of `vs`; with `audio` (mono float32 at 16 kHz, fitted to the
    video's length) an AAC track interleaved by time, as a real muxer's input would be."""
    pending = deque()
    if audio is not None:
        astream = _add_audio(out)
        pending.extend(_audio_frames(np.asarray(audio, np.float32), round(n_frames / fps * SR)))
    for i, planes in enumerate(frames):
        if rotate:
            planes = [np.ascontiguousarray(np.rot90(p, rotate // 90)) for p in planes]
        frame = av.VideoFrame.from_ndarray(
            np.concatenate([p.ravel() for p in planes]).reshape(-1, vs.width), format="yuv420p"
        )
        frame.pts = i
        out.mux(vs.encode(frame))
        while pending and pending[0].pts <= (i + 1) * SR / fps:
            out.mux(astream.encode(pending.popleft()))
    out.mux(vs.encode())
    if audio is not None:
        out.mux(astream.encode())


def write_video(path, spans, size=(1280, 720), fps=25, codec="h264", audio=None, rotate=0, seed=0):
    """Write spans [(photo name | HxWx3 uint8 RGB, seconds), ...] as one MP4 with hard cuts.

    size is the displayed (width, height). rotate (0/90/180/270) stores the frames turned
    and tags them so players turn them back clockwise by that much, as phones do for
    portrait video. audio: mono float32 at 16 kHz (padded/trimmed) for an AAC track, or
    None for no audio track. codec: "h264" (libx264) or "mp4v" (MPEG-4 Part 2).
    Returns the true spans [{label, start, end}] in seconds, snapped to frame boundaries;
    array spans are labelled "array".
    """
    W, H = size
    if W % 2 or H % 2 or rotate % 90:
        raise ValueError("need even width/height (yuv420p) and rotate a multiple of 90")
    counts = [round(sec * fps) for _, sec in spans]
    total = sum(counts)
    rng = np.random.default_rng(seed)
    truth, done = [], 0
    for (src, _), n in zip(spans, counts):
        label = src if isinstance(src, str) else "array"
        truth.append({"label": label, "start": done / fps, "end": (done + n) / fps})
        done += n
    # faststart puts the index up front like web/phone files: a truncated copy still decodes.
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        vs = add_video_stream(out, codec, fps, *((H, W) if rotate % 180 else (W, H)))
        if rotate:
            vs.set_display_rotation(-rotate)  # FFmpeg stores counter-clockwise degrees
        frames = (
            planes
            for (src, _), n in zip(spans, counts)
            for planes in _render_span(
                _rgb(PHOTOS[src]() if isinstance(src, str) else np.asarray(src, np.uint8)), n, size, rng
            )
        )
        mux_i420(out, vs, frames, audio, total, fps, rotate)
    return truth


def room_tone(seconds: float, seed: int = 0) -> np.ndarray:
    """Quiet low-passed noise with a faint 120 Hz hum: a believable 'nothing happening' track."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * SR)) / SR
    noise = np.convolve(rng.normal(0, 0.02, t.size), np.ones(8) / 8, mode="same")
    return (noise + 0.005 * np.sin(2 * np.pi * 120 * t)).astype(np.float32)


# ---- broken / unusual inputs for ingest tests ----------------------------------------------


def write_zero_byte(path) -> None:
    Path(path).write_bytes(b"")


def write_truncated(src, path, keep_fraction: float = 0.3) -> None:
    """First keep_fraction of a real MP4's bytes, like an interrupted upload or download."""
    raw = Path(src).read_bytes()
    Path(path).write_bytes(raw[: int(len(raw) * keep_fraction)])


def write_not_a_video(path) -> None:
    Path(path).write_text("This is a text file with a video extension.\n" * 20)


def write_audio_only(path, seconds: float = 3.0) -> None:
    """AAC track in an MP4/M4A container with no video stream at all."""
    fmt = "ipod" if str(path).endswith(".m4a") else "mp4"
    with av.open(str(path), "w", format=fmt) as out:
        astream = _add_audio(out)
        for f in _audio_frames(room_tone(seconds), round(seconds * SR)):
            out.mux(astream.encode(f))
        out.mux(astream.encode())


def write_rotated(path, photo="astronaut", seconds: float = 2.0, rotate: int = 90):
    """Portrait 720x1280 display stored as 1280x720 frames plus a rotation tag (phone style)."""
    return write_video(path, [(photo, seconds)], size=(720, 1280), rotate=rotate)


def write_static(
    path, photo="coffee", seconds: int = 20, size=(640, 360), fps: int = 10, object_from: float | None = None
) -> None:
    """A fixed camera on a photo with sensor noise (no zoom); a small dark square appears at `object_from`."""
    base = cv2.cvtColor(cv2.resize(PHOTOS[photo](), size), cv2.COLOR_RGB2BGR)
    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    side = size[1] // 9  # under 1% of the picture
    for i in range(int(seconds * fps)):
        frame = np.clip(base.astype(np.int16) + rng.integers(-6, 7, base.shape), 0, 255).astype(np.uint8)
        if object_from is not None and i / fps >= object_from:
            frame[side : 2 * side, size[0] - 3 * side : size[0] - 2 * side] = 20
        writer.write(frame)
    writer.release()


def make_sample(out_dir) -> dict:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = {  # name -> (spans, audio); the negative has no audio track, covering both cases
        "cat_coffee.mp4": ([("cat", 6), ("coffee", 6)], room_tone(12)),
        "rocket.mp4": ([("rocket", 8)], None),
    }
    spans, report = {}, {}
    for name, (sp, audio) in jobs.items():
        t0 = time.perf_counter()
        spans[name] = write_video(out / name, sp, audio=audio)
        print(f"wrote {out / name} in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        report[name] = {"path": str(out / name), "bytes": (out / name).stat().st_size, "spans": spans[name]}
    (out / "spans.json").write_text(json.dumps(spans, indent=2) + "\n")
    report["spans.json"] = {"path": str(out / "spans.json")}
    return report


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    print(json.dumps(make_sample(ap.parse_args(argv).out_dir), indent=2))


if __name__ == "__main__":
    main()
