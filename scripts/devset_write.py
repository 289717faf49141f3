"""Render one planned development-set video: pictures with camera motion, on-screen text, a composed audio track.

Ground truth comes out of the rendering itself: shot cuts snapped to frames, speech pieces placed at known sample
offsets, text items at frame times. The encoder runs single-threaded so the bytes do not depend on the machine.
"""

from __future__ import annotations

from pathlib import Path

import av
import devset_media as dm
import numpy as np
import text_video
from make_sample import SR, _render_span, add_video_stream, mux_i420, room_tone
from text_video import TextItem, overlay

GAP_S, WORD_GAP_S, LEAD_S = 0.7, 0.08, 0.8


def compose_speech(pieces: list[dict], rng: np.random.Generator) -> tuple[np.ndarray, list[dict]]:
    """Speech pieces in order -> (track, [{label, start, end}]). A piece may be split in parts (before, keyword,
    after) joined by a word's pause; the keyword part alone carries the piece's label then."""
    track, truth, at = [np.zeros(round(LEAD_S * SR), np.float32)], [], LEAD_S
    for piece in pieces:
        parts = piece["parts"]
        for k, part in enumerate(parts):
            voice = dm.speak(part["text"], piece["voice"], piece["speed"])
            if part.get("label"):
                truth.append({"label": part["label"], "start": round(at, 3), "end": round(at + len(voice) / SR, 3)})
            gap = WORD_GAP_S if k + 1 < len(parts) else GAP_S + float(rng.uniform(0, 0.8))
            track += [voice, np.zeros(round(gap * SR), np.float32)]
            at += (len(voice) + round(gap * SR)) / SR
    return np.concatenate(track), truth


def audio_track(plan: dict, seconds: float, rng: np.random.Generator) -> np.ndarray | None:
    kind = plan["kind"]
    if kind == "none":
        return None
    n = round(seconds * SR)
    base = {"music": dm.music, "tones": dm.tones, "noise": dm.noise}.get(kind)
    track = base(seconds, rng) if base else room_tone(seconds, seed=int(rng.integers(1 << 30)))
    if plan.get("speech") is not None:
        speech = plan["speech"][:n]
        bed = 0.25 if plan.get("bed") else 1.0  # music under speech is mixed low, as in a programme
        track = track[:n] * (bed if kind == "music" else 1.0)
        track[: len(speech)] += speech
    return np.clip(track, -1, 1).astype(np.float32)


def text_items(texts: list[dict], duration: float, size: tuple[int, int]) -> list[TextItem]:
    w, h = size
    items = []
    for t in texts:
        start, end = t["start"] * duration, min(t["end"] * duration, duration)
        plate = tuple(t["plate"]) if t.get("plate") else None
        items.append(
            TextItem(
                t["text"],
                round(start, 1),
                round(end, 1),
                int(t["x"] * w),
                int(t["y"] * h),
                int(t["size"] * h / 360),
                t["font"],
                tuple(t["color"]),
                plate,
            )
        )
    return items


def write(
    path: Path,
    shots: list[tuple[np.ndarray, float]],
    items: list[TextItem],
    audio: np.ndarray | None,
    size: tuple[int, int],
    fps: int,
    rotate: int,
    seed: int,
) -> list[tuple[float, float]]:
    """Write the MP4; returns each shot's (start, end) in seconds, snapped to frames."""
    W, H = size
    counts = [max(1, round(sec * fps)) for _, sec in shots]
    total = sum(counts)
    spans, done = [], 0
    for n in counts:
        spans.append((done / fps, (done + n) / fps))
        done += n
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        vs = add_video_stream(out, "h264", fps, *((H, W) if rotate % 180 else (W, H)))
        vs.codec_context.thread_count = 1  # x264's output depends on its thread count
        if rotate:
            vs.set_display_rotation(-rotate)

        def frames():
            i = 0
            for (rgb, _), n in zip(shots, counts):
                for planes in _render_span(rgb, n, size, rng):
                    planes = [p.copy() for p in planes]
                    overlay(planes, items, i / fps, size)
                    i += 1
                    yield planes

        mux_i420(out, vs, frames(), audio, total, fps, rotate)
    return spans


def picture(spec: dict, media: dm.Media, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A shot's still: full-frame artwork or noise, or stamps composited over a backdrop."""
    if "art" in spec:
        return dm.load_rgba(str(media.wallpaper_file(spec["art"])), 1280)[..., :3].copy()
    big = (size[0] * 3 // 2, size[1] * 3 // 2)
    if spec.get("noise"):
        return dm.noise_picture(big, rng)
    back_kind = spec["back"].split(":")[0]
    art = media.wallpaper_file(spec["back"].split(":")[1]) if back_kind == "art" else None
    back = dm.background(back_kind, big, rng, art)
    return dm.composite(back, [dm.load_rgba(str(media.stamps / s)) for s in spec["stamps"]])


def render(plan: dict, path: Path, media: dm.Media, fonts: Path) -> dict:
    """Write the planned video; return its truth: duration, segments, ambiguous spans."""
    text_video.FONT_DIR = fonts
    rng = np.random.default_rng(plan["seed"])
    size, fps = tuple(plan["size"]), plan["fps"]
    speech, spoken = None, []
    if plan["audio"].get("pieces"):
        speech, spoken = compose_speech(plan["audio"]["pieces"], rng)
    shot_seconds = [s["seconds"] for s in plan["shots"]]
    need = (len(speech) / SR + 0.6) if speech is not None else 0.0
    if need > sum(shot_seconds):
        shot_seconds[-1] += need - sum(shot_seconds)
    duration = round(sum(max(1, round(s * fps)) for s in shot_seconds) / fps, 3)
    audio = audio_track({**plan["audio"], "speech": speech}, duration, rng)
    items = text_items(plan["texts"], duration, size)
    stills = [picture(s, media, size, rng) for s in plan["shots"]]
    spans = write(path, list(zip(stills, shot_seconds)), items, audio, size, fps, plan.get("rotate", 0), plan["seed"])
    segments, ambiguous = [], []
    for shot, (start, end) in zip(plan["shots"], spans):
        segments += [{"label": lb, "source": "visual", "start": start, "end": end} for lb in shot["labels"]]
        ambiguous += [{"label": lb, "source": "visual", "start": start, "end": end} for lb in shot.get("ambiguous", [])]
    segments += [{**s, "source": "conversation"} for s in spoken]
    for t, item in zip(plan["texts"], items):
        if t.get("label"):
            start, end = np.ceil(item.start * fps) / fps, min(np.ceil(item.end * fps) / fps, duration)
            segments.append({"label": t["label"], "source": "text_in_video", "start": float(start), "end": float(end)})
    return {"duration": duration, "segments": segments, "ambiguous": ambiguous}
