"""Speech test media: espeak-ng sentences composed into one track with known times, muxed under a video.

    python scripts/speech_media.py OUT_DIR     # news.mp4, silent.mp4, music.mp4, noaudio.mp4, truth.json

Each piece is synthesised separately, trimmed to its voiced part and placed at a known time, so the truth
of every piece (a sentence, or one keyword) is exact to the sample. espeak-ng comes from the Debian package
(`make test` installs it when missing).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_sample import SR, room_tone, write_video  # noqa: E402

GAP_S = 0.6  # pause between sentences
WORD_GAP_S = 0.08  # pause around a keyword synthesised on its own

# A short news programme: the weather forecast sits between other topics; "saxophone" is the rare keyword.
NEWS = [
    (
        "intro",
        "Good evening and welcome to the evening programme. Tonight the new city library opened its "
        "doors to the public after three years of building work.",
    ),
    (
        "weather",
        "And now the weather forecast. Tomorrow will be cloudy with heavy rain in the afternoon, and "
        "temperatures will fall to five degrees overnight.",
    ),
    ("sport", "In sport, the local football team won their match on Saturday with two late goals."),
    ("before", "Finally, the school band has bought a new"),
    ("keyword", "saxophone"),
    ("after", "for its summer concert in the park."),
]


def speak(text: str, words_per_minute: int = 150, voice: str = "en-us") -> np.ndarray:
    """espeak-ng's voice for `text`, as 16 kHz mono float32, trimmed to where it is voiced."""
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed (Debian: apt-get install espeak-ng; `make test` does it)")
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(words_per_minute), "--stdout", text], check=True, capture_output=True
    ).stdout
    return _trim(_resample(wav))


def _resample(wav: bytes) -> np.ndarray:
    import io

    out = []
    with av.open(io.BytesIO(wav), format="wav") as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SR)
        for frame in container.decode(audio=0):
            out.extend(r.to_ndarray().reshape(-1) for r in resampler.resample(frame))
        out.extend(r.to_ndarray().reshape(-1) for r in resampler.resample(None))
    return np.concatenate(out).astype(np.float32)


def _trim(audio: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    voiced = np.flatnonzero(np.abs(audio) > threshold)
    return audio[voiced[0] : voiced[-1] + 1] if len(voiced) else audio[:0]


def compose(
    pieces: list[tuple[str, str]], lead_s: float = 1.0, tail_s: float = 1.0, noise: float = 0.002
) -> tuple[np.ndarray, dict[str, tuple[float, float]]]:
    """Pieces (name, text) in order -> one track and the truth [(name, start, end)] in seconds.

    A piece whose name is "keyword" (and its neighbours) is joined with a word's pause, not a sentence's."""
    track = [np.zeros(round(lead_s * SR), np.float32)]
    truth, at = [], lead_s
    for i, (name, text) in enumerate(pieces):
        voice = speak(text)
        truth.append((name, round(at, 3), round(at + len(voice) / SR, 3)))
        nxt = pieces[i + 1][0] if i + 1 < len(pieces) else None
        gap = WORD_GAP_S if "keyword" in (name, nxt) else GAP_S
        track += [voice, np.zeros(round(gap * SR), np.float32)]
        at += (len(voice) + round(gap * SR)) / SR
    track.append(np.zeros(round(tail_s * SR), np.float32))
    audio = np.concatenate(track)
    audio += np.random.default_rng(0).normal(0, noise, audio.shape).astype(np.float32)  # a room, not digital silence
    return audio, truth


def music(seconds: float) -> np.ndarray:
    """Chords with a beat: tonal sound with no words in it."""
    t = np.arange(round(seconds * SR)) / SR
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) / 3
    beat = 0.5 + 0.5 * (np.sin(2 * np.pi * 2 * t) > 0)
    return (0.3 * chord * beat).astype(np.float32)


def write_broken_audio(path: Path, seconds: int = 4) -> None:
    """A video whose pictures are fine but whose every AAC packet is overwritten with noise."""
    write_video(path, [("coffee", seconds)], size=(320, 240), fps=10, audio=music(seconds))
    with av.open(str(path)) as container:
        packets = [(p.pos, p.size) for p in container.demux(container.streams.audio[0]) if p.pos is not None and p.size]
    data = bytearray(Path(path).read_bytes())
    rng = np.random.default_rng(0)
    for offset, size in packets:
        data[offset : offset + size] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    Path(path).write_bytes(bytes(data))


def make_speech_media(out_dir: Path) -> dict:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    audio, truth = compose(NEWS)
    seconds = int(np.ceil(len(audio) / SR))
    small = (320, 240)  # the pictures do not matter here; small frames keep the tests fast
    write_video(out / "news.mp4", [("astronaut", seconds)], size=small, fps=10, audio=audio)
    write_video(out / "silent.mp4", [("coffee", 8)], size=small, fps=10, audio=room_tone(8))
    write_video(out / "music.mp4", [("camera", 10)], size=small, fps=10, audio=music(10))
    write_video(out / "noaudio.mp4", [("rocket", 6)], size=small, fps=10, audio=None)
    report = {
        "news.mp4": {
            "duration": seconds,
            "truth": {n: [s, e] for n, s, e in truth},
            "text": " ".join(t for _, t in NEWS),
        },
        "silent.mp4": {"duration": 8},
        "music.mp4": {"duration": 10},
        "noaudio.mp4": {"duration": 6},
    }
    (out / "truth.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    print(json.dumps(make_speech_media(ap.parse_args().out_dir), indent=2))
