"""The demo's speech and on-screen text samples, beside make_sample.py's pictures.

    python scripts/make_demo_media.py OUT_DIR     # news.mp4 (spoken news with a weather forecast), sale.mp4 (a sign)

Prints the truth as JSON: when the weather forecast is spoken, when the sign is shown.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_sample import SR, write_video  # noqa: E402
from speech_media import NEWS, compose  # noqa: E402
from text_video import TextItem, write_text_video  # noqa: E402


def make_demo_media(out_dir: Path) -> dict:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    audio, truth = compose(NEWS)
    seconds = int(np.ceil(len(audio) / SR))
    write_video(out / "news.mp4", [("astronaut", seconds)], size=(640, 360), fps=10, audio=audio)
    sign = TextItem("SALE 50% OFF", 4.0, 9.0, 200, 60, 40, "DejaVuSerif-Bold", color=(250, 230, 40))
    shown = write_text_video(out / "sale.mp4", [("coffee", 12)], [sign], size=(640, 360))
    report = {
        "news.mp4": {name: [start, end] for name, start, end in truth},
        "sale.mp4": {s["text"]: [s["start"], s["end"]] for s in shown},
    }
    (out / "demo-truth.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    print(json.dumps(make_demo_media(ap.parse_args().out_dir), indent=2))
