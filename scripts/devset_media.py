"""The development set's raw media: Debian packages (pinned, sha256-checked, cached), pictures and sounds.

Pictures: photographic stamps of tuxpaint-stamps-default (cut-outs with alpha, in labelled folders) composited on
generated backgrounds or on artwork, and wallpapers of plasma-workspace-wallpapers / ukui-wallpapers (a few
photos of water, many abstract pieces). Fonts: fonts-dejavu-core, fonts-liberation. Speech: espeak-ng voices.
Music, tones and noise: numpy.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_sample import SR  # noqa: E402
from speech_media import _resample, _trim  # noqa: E402

PACKAGES = {  # name -> (version, sha256 of the .deb)
    "tuxpaint-stamps-default": ("2022.06.04-1", "6db6c1bfc870a47f1499d6203b083522eacb57c5f9c87d468f2e92eb6d9d5f34"),
    "plasma-workspace-wallpapers": ("4:5.27.5-2", "32cd18b71c8c938a18b3b351f217c02ac590e323caa3cf322fbb875ce8892f8b"),
    "ukui-wallpapers": ("20.04.3-1.1", "6d49be70152e6d603163458e177e501deb0be8f2916389ccbfcf59b0d7fc0262"),
    "fonts-dejavu-core": ("2.37-6", "8892669e51aab4dc56682c8e39d8ddb7d70fad83c369344e1e240bf3ca22bb76"),
    "fonts-liberation": ("1:1.07.4-11", "efd381517f958b01969343634ffcbdd60056be7779af84c6f53a005090430204"),
}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_packages(cache: Path) -> Path:
    """Download (apt-get download, once) and unpack every package; returns the root they are unpacked under."""
    debs, root = cache / "debs", cache / "root"
    debs.mkdir(parents=True, exist_ok=True)
    for name, (version, sha) in PACKAGES.items():
        done = root / f".{name}.ok"
        if done.is_file():
            continue
        found = [p for p in debs.glob(f"{name}_*.deb") if _sha256(p) == sha]
        if not found:
            print(f"event=download package={name} version={version}", file=sys.stderr)
            got = subprocess.run(["apt-get", "download", f"{name}={version}"], cwd=debs, capture_output=True, text=True)
            if got.returncode:
                subprocess.run(["apt-get", "update", "-q"], capture_output=True)
                subprocess.run(["apt-get", "download", f"{name}={version}"], cwd=debs, check=True)
            found = [p for p in debs.glob(f"{name}_*.deb") if _sha256(p) == sha]
            if not found:
                raise RuntimeError(f"{name} {version}: no .deb with sha256 {sha}")
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", str(found[0]), str(root)], check=True)
        done.touch()
    return root


class Media:
    """Labelled pictures and fonts inside the unpacked packages."""

    def __init__(self, root: Path):
        self.root = root
        self.stamps = root / "usr/share/tuxpaint/stamps"
        self.fonts = [root / "usr/share/fonts/truetype/dejavu", root / "usr/share/fonts/truetype/liberation"]

    def stamp_files(self, folder: str) -> list[str]:
        """Photographic stamps under a folder (recursive; cartoons and plastic toys left out), relative paths."""
        base = self.stamps / folder
        if base.is_file() or base.with_suffix(".png").is_file():
            return [folder if folder.endswith(".png") else folder + ".png"]
        return sorted(
            str(p.relative_to(self.stamps))
            for p in base.rglob("*.png")
            if not {"cartoon", "plastic", "toys"} & set(p.relative_to(self.stamps).parts)
            and not p.stem.endswith("_mirror")
        )

    def wallpaper_file(self, name: str) -> Path:
        plasma = self.root / "usr/share/wallpapers" / name / "contents/images"
        if plasma.is_dir():
            files = sorted(plasma.iterdir(), key=lambda p: (("1920x1080" not in p.name), p.name))
            return files[0]
        return next(p for p in sorted((self.root / "usr/share/backgrounds").iterdir()) if p.stem == name)

    def font_file(self, name: str) -> Path:
        for d in self.fonts:
            if (d / f"{name}.ttf").is_file():
                return d / f"{name}.ttf"
        raise FileNotFoundError(name)


@lru_cache(maxsize=64)
def load_rgba(path: str, max_side: int = 900) -> np.ndarray:
    """A picture as RGBA uint8, cropped to its opaque part and at most max_side pixels."""
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"cannot read {path}")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGRA)
    elif image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    rgba = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    ys, xs = np.nonzero(rgba[..., 3] > 16)
    if len(ys):
        rgba = rgba[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    scale = min(1.0, max_side / max(rgba.shape[:2]))
    if scale < 1:
        rgba = cv2.resize(
            rgba, (round(rgba.shape[1] * scale), round(rgba.shape[0] * scale)), interpolation=cv2.INTER_AREA
        )
    return rgba


def background(kind: str, size: tuple[int, int], rng: np.random.Generator, art: Path | None = None) -> np.ndarray:
    """RGB backdrop: a soft two-colour gradient, a blurred piece of artwork, or a plain grey."""
    w, h = size
    if kind == "art" and art is not None:
        picture = load_rgba(str(art), 1280)[..., :3]
        picture = cv2.resize(picture, size, interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(picture, (0, 0), 6)
    if kind == "grey":
        return np.full((h, w, 3), int(rng.integers(150, 220)), np.uint8)
    top, bottom = rng.integers(60, 240, 3), rng.integers(60, 240, 3)
    ramp = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    return np.broadcast_to(top + ramp * (bottom - top), (h, w, 3)).astype(np.uint8).copy()


def composite(back: np.ndarray, stamps: list[np.ndarray], fill: float = 0.8) -> np.ndarray:
    """Stamps side by side over the backdrop, each scaled to fit its share of the frame."""
    out = back.astype(np.float32)
    h, w = back.shape[:2]
    cell = w / len(stamps)
    for i, rgba in enumerate(stamps):
        scale = fill * min(cell / rgba.shape[1], h / rgba.shape[0])
        sw, sh = max(2, round(rgba.shape[1] * scale)), max(2, round(rgba.shape[0] * scale))
        small = cv2.resize(rgba, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32)
        x, y = round(i * cell + (cell - sw) / 2), (h - sh) // 2
        alpha = small[..., 3:] / 255.0
        out[y : y + sh, x : x + sw] = out[y : y + sh, x : x + sw] * (1 - alpha) + small[..., :3] * alpha
    return np.clip(out, 0, 255).astype(np.uint8)


def noise_picture(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    w, h = size
    coarse = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
    return cv2.resize(coarse, size, interpolation=cv2.INTER_CUBIC)


# ---- sound ----------------------------------------------------------------------------------------------------


def speak(text: str, voice: str, speed: int) -> np.ndarray:
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text], check=True, capture_output=True
    ).stdout
    return _trim(_resample(wav))


def music(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A chord progression with a beat and a melody: tonal, rhythmic, and no words."""
    t = np.arange(round(seconds * SR)) / SR
    roots = rng.choice([196.0, 220.0, 246.9, 261.6, 293.7], 4)
    bar = (t // 2).astype(int) % 4
    root = roots[bar]
    chord = sum(np.sin(2 * np.pi * root * r * t) for r in (1.0, 1.26, 1.5)) / 3
    beat = np.exp(-((t * 2) % 1) * 8)
    melody = np.sin(2 * np.pi * root * 2 * (1 + 0.125 * ((t * 4).astype(int) % 5)) * t) * 0.3
    return (0.25 * (chord * (0.6 + 0.4 * beat) + melody)).astype(np.float32)


def tones(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Beeps of a test signal: pure tones, switched on and off."""
    t = np.arange(round(seconds * SR)) / SR
    freq = float(rng.choice([440.0, 1000.0, 700.0]))
    gate = ((t % 1.0) < 0.6).astype(np.float32)
    return (0.3 * np.sin(2 * np.pi * freq * t) * gate).astype(np.float32)


def noise(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Broadband noise with slow swells, like wind or traffic."""
    n = round(seconds * SR)
    white = rng.normal(0, 1, n)
    shaped = np.convolve(white, np.ones(24) / 24, mode="same")
    swell = 0.5 + 0.5 * np.sin(2 * np.pi * 0.2 * np.arange(n) / SR + rng.uniform(0, 6))
    return (0.25 * shaped * swell).astype(np.float32)
