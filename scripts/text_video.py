"""Test videos with on-screen text at known times, for the OCR tests and benchmark.

Backgrounds come from scripts/make_sample.py (bundled photos, slow Ken-Burns zoom/pan, grain),
so text sits on real textures under mild camera motion. Text is rendered once per item (Pillow
TrueType when DejaVu is installed, else Pillow's bundled font; or OpenCV Hershey fonts) and
alpha-blended straight into the I420 planes, so a 720p frame costs a few ms and is encoded with
the same H.264 settings as make_sample's writer. Everything is seeded: reruns give identical bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import av
import cv2
import numpy as np
from make_sample import PHOTOS, _render_span, _rgb, add_video_stream
from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
HERSHEY = {
    "hershey_simplex": cv2.FONT_HERSHEY_SIMPLEX,
    "hershey_duplex": cv2.FONT_HERSHEY_DUPLEX,
    "hershey_triplex": cv2.FONT_HERSHEY_TRIPLEX,
}


@dataclass(frozen=True)
class TextItem:
    """One text on screen from `start` to `end` s, top-left at (x, y) px (negative: from the right/bottom).

    size: font size in px (TrueType) or cap height in px (Hershey). font: a DejaVu file stem
    ("DejaVuSans-Bold") or a HERSHEY key. plate: RGB of a box behind the text (lower thirds,
    subtitles), else the text gets a dark outline. drift: (dx, dy) px/s, a sign moving with the
    camera. scroll: px/s leftwards from the right edge (a ticker); x is then ignored.
    """

    text: str
    start: float
    end: float
    x: int
    y: int
    size: int = 40
    font: str = "DejaVuSans-Bold"
    color: tuple = (255, 255, 255)
    plate: tuple | None = None
    drift: tuple = (0.0, 0.0)
    scroll: float = 0.0


def _font(name: str, size: int):
    path = FONT_DIR / f"{name}.ttf"
    return ImageFont.truetype(str(path), size) if path.is_file() else ImageFont.load_default(size)


@lru_cache(maxsize=256)
def render_layer(item: TextItem) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8, alpha float32 0..1) of the text with its plate or outline, even-sized (for I420)."""
    pad = max(4, item.size // 4)
    if item.font in HERSHEY:
        face, scale = HERSHEY[item.font], item.size / 22.0  # Hershey caps are ~22 px at scale 1
        thick = max(1, round(item.size / 12))
        (w, h), base = cv2.getTextSize(item.text, face, scale, thick + 2)
        w, h = w + 2 * pad, h + base + 2 * pad
        mask_txt = np.zeros((h, w), np.uint8)
        mask_out = np.zeros((h, w), np.uint8)
        org = (pad, pad + h - base - 2 * pad)
        cv2.putText(mask_out, item.text, org, face, scale, 255, thick + 3, cv2.LINE_AA)
        cv2.putText(mask_txt, item.text, org, face, scale, 255, thick, cv2.LINE_AA)
    else:
        font = _font(item.font, item.size)
        stroke = 0 if item.plate else max(2, item.size // 14)
        x0, y0, x1, y1 = font.getbbox(item.text, stroke_width=stroke)
        w, h = x1 - x0 + 2 * pad, y1 - y0 + 2 * pad
        txt, out = Image.new("L", (w, h)), Image.new("L", (w, h))
        org = (pad - x0, pad - y0)
        ImageDraw.Draw(out).text(org, item.text, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
        ImageDraw.Draw(txt).text(org, item.text, font=font, fill=255)
        mask_txt, mask_out = np.asarray(txt), np.asarray(out)
    h, w = mask_txt.shape[0] + (mask_txt.shape[0] & 1), mask_txt.shape[1] + (mask_txt.shape[1] & 1)
    a_txt = np.zeros((h, w), np.float32)
    a_out = np.zeros((h, w), np.float32)
    a_txt[: mask_txt.shape[0], : mask_txt.shape[1]] = mask_txt / 255.0
    a_out[: mask_out.shape[0], : mask_out.shape[1]] = mask_out / 255.0
    back = np.array(item.plate or (10, 10, 10), np.float32)
    rgb = back + a_txt[..., None] * (np.array(item.color, np.float32) - back)
    alpha = np.full((h, w), 0.85, np.float32) if item.plate else np.maximum(a_out, a_txt)
    return np.clip(rgb, 0, 255).astype(np.uint8), alpha


def position(item: TextItem, t: float, size: tuple[int, int]) -> tuple[int, int]:
    """Top-left of the item's layer at time t (even, for chroma alignment); may lie off-frame."""
    W, H = size
    lw, lh = render_layer(item)[0].shape[1], render_layer(item)[0].shape[0]
    dt = t - item.start
    x = W - item.scroll * dt if item.scroll else (item.x if item.x >= 0 else W + item.x - lw)
    y = item.y if item.y >= 0 else H + item.y - lh
    x, y = x + item.drift[0] * dt, y + item.drift[1] * dt
    return int(round(x)) & ~1, int(round(y)) & ~1


def _blend(plane: np.ndarray, src: np.ndarray, alpha: np.ndarray, x: int, y: int) -> None:
    H, W = plane.shape
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + src.shape[1], W), min(y + src.shape[0], H)
    if x0 >= x1 or y0 >= y1:
        return
    s = src[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32)
    a = alpha[y0 - y : y1 - y, x0 - x : x1 - x]
    dst = plane[y0:y1, x0:x1]
    dst[:] = np.clip(dst + a * (s - dst), 0, 255).astype(np.uint8)


@lru_cache(maxsize=256)
def _layer_planes(item: TextItem):
    rgb, alpha = render_layer(item)
    h, w = alpha.shape
    yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).ravel()  # same conversion as make_sample's _i420
    n = h * w
    planes = (
        yuv[:n].reshape(h, w),
        yuv[n : n + n // 4].reshape(h // 2, w // 2),
        yuv[n + n // 4 :].reshape(h // 2, w // 2),
    )
    return planes, (alpha, cv2.resize(alpha, (w // 2, h // 2), interpolation=cv2.INTER_AREA))


def overlay(planes, items, t: float, size: tuple[int, int]) -> None:
    """Blend every item visible at time t into the (Y, U, V) planes in place."""
    for item in items:
        if item.start <= t < item.end:
            x, y = position(item, t, size)
            (ly, lu, lv), (a, a2) = _layer_planes(item)
            _blend(planes[0], ly, a, x, y)
            _blend(planes[1], lu, a2, x // 2, y // 2)
            _blend(planes[2], lv, a2, x // 2, y // 2)


def render_frame(photo: str, items, t: float = 0.0, size=(1280, 720), seed: int = 0) -> np.ndarray:
    """One BGR still of `photo` (as make_sample frames it) with the items visible at time t."""
    planes = [p.copy() for p in next(_render_span(_rgb(PHOTOS[photo]()), 1, size, np.random.default_rng(seed)))]
    overlay(planes, items, t, size)
    return cv2.cvtColor(np.concatenate([p.ravel() for p in planes]).reshape(-1, size[0]), cv2.COLOR_YUV2BGR_I420)


def write_text_video(path, scenes, items, size=(1280, 720), fps: int = 10, seed: int = 0) -> list[dict]:
    """Write scenes [(photo, seconds), ...] (hard cuts, Ken-Burns motion) with `items` on top as H.264.

    Returns the truth: [{text, start, end, box: [x0, y0, x1, y1] at the item's start}] with times
    snapped to frame boundaries, the way a decoder will see them.
    """
    W, H = size
    rng = np.random.default_rng(seed)
    truth = []
    for item in items:
        x, y = position(item, item.start, size)
        h, w = render_layer(item)[1].shape
        start, end = np.ceil(item.start * fps) / fps, np.ceil(item.end * fps) / fps
        truth.append(
            {
                "text": item.text,
                "start": float(start),
                "end": float(end),
                "box": [max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)],
            }
        )
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        vs = add_video_stream(out, "h264", fps, W, H)
        i = 0
        for photo, seconds in scenes:
            for planes in _render_span(_rgb(PHOTOS[photo]()), round(seconds * fps), size, rng):
                overlay(planes, items, i / fps, size)
                frame = av.VideoFrame.from_ndarray(
                    np.concatenate([p.ravel() for p in planes]).reshape(-1, W), format="yuv420p"
                )
                frame.pts = i
                out.mux(vs.encode(frame))
                i += 1
        out.mux(vs.encode())
    return truth


SUBTITLES = [
    "Welcome back to the show",
    "Today we look at the harbour",
    "The boats leave at dawn",
    "Prices went up again this week",
    "Nobody expected the storm",
    "Let us meet the crew",
    "This engine is forty years old",
    "The coffee here is famous",
    "Turn left at the bridge",
    "Tickets are sold at the gate",
    "We will be right back",
    "Thank you for watching",
    "The museum opens at nine",
    "Rain is expected tonight",
    "Keep your camera ready",
    "Our guest today is a pilot",
    "The final score was three to one",
    "Please mind the gap",
    "Lunch is served at noon",
    "The road was closed for hours",
    "Look at those colours",
    "Every stone has a story",
    "Stay safe out there",
    "See you next time",
]


def typical_items(duration: float = 60.0, size=(1280, 720), seed: int = 1) -> list[TextItem]:
    """A typical captioned clip: subtitles every 2-3 s, a channel logo, lower thirds and a drifting sign."""
    W, H = size
    k = H / 720  # scale text with the frame
    rng = np.random.default_rng(seed)
    items = [TextItem("EDGE TV", 0.0, duration, -int(24 * k), int(20 * k), int(26 * k), "DejaVuSans-Bold")]
    t, n = 0.5, 0
    while t < duration - 1.5:
        length = float(rng.choice([2.0, 2.5, 3.0]))
        items.append(
            TextItem(
                SUBTITLES[n % len(SUBTITLES)],
                t,
                min(t + length, duration),
                int(W * 0.25),
                -int(40 * k),
                int(34 * k),
                "DejaVuSans",
                plate=(16, 16, 16),
            )
        )
        t += length + float(rng.choice([0.0, 0.0, 1.0]))  # back to back, or a one-second pause
        n += 1
    for start in (5.0, 35.0):
        items.append(
            TextItem(
                "BREAKING NEWS",
                start,
                start + 8,
                int(40 * k),
                -int(130 * k),
                int(40 * k),
                "DejaVuSans-Bold",
                plate=(180, 20, 20),
            )
        )
    for start, text in ((14.0, "SALE 50% OFF"), (44.0, "OPEN 24 HOURS")):
        items.append(
            TextItem(
                text,
                start,
                start + 7,
                int(W * 0.45),
                int(160 * k),
                int(56 * k),
                "DejaVuSerif-Bold",
                color=(250, 230, 40),
                drift=(-3.0 * k, 1.0 * k),
            )
        )
    return [TextItem(**{**i.__dict__, "end": min(i.end, duration)}) for i in items if i.start < duration - 1]


TYPICAL_SCENES = [("coffee", 15), ("cat", 15), ("astronaut", 15), ("motorcycle", 15)]
