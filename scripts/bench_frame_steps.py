"""What each frame-model step buys in visual indexing: the bench's 60 s 720p video, indexed per step, two runs each.

    python scripts/bench_frame_steps.py [--reps 2]

Steps (each on top of the one before, all with the views shared by the two threads, edge.conse):
the float SSD detector and Lite3 as converted on the frame and its two end squares; the INT8 detector; the end
squares alone; Lite3 with uint8 activations (the shipped CPU setup); and the shipped setup with
EDGE_FRAME_VIEWS=off. The CPU copies are edge.install.quantize's; the older choices are put back by swapping
the file edge.bundles picks and the views edge.conse takes. Prints a Markdown table (x realtime per run).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import make_videos  # noqa: E402

import edge.bundles as bundles  # noqa: E402
import edge.conse as conse  # noqa: E402
from edge.appliance import Edge  # noqa: E402
from edge.decode import probe  # noqa: E402
from edge.settings import load_settings  # noqa: E402
from edge.types import VISUAL  # noqa: E402

END_SQUARES, CPU_FILE = conse.views, bundles.frame_model_file
AS_CONVERTED = {"model.int8.onnx": "model.onnx", "model.u8.onnx": "model.onnx"}


def with_whole_frame(shape, split=True):
    """The views before: the squeezed whole frame beside the two end squares."""
    ends = END_SQUARES(shape, split)
    return ends if len(ends) == 1 else [(slice(0, shape[0]), slice(0, shape[1])), *ends]


STEPS = [
    ("float detector, Lite3 as converted, whole frame + end squares", AS_CONVERTED, with_whole_frame, True),
    ("+ INT8 detector", {"model.u8.onnx": "model.onnx"}, with_whole_frame, True),
    ("+ end squares only", {"model.u8.onnx": "model.onnx"}, END_SQUARES, True),
    ("+ Lite3 with uint8 activations (shipped)", {}, END_SQUARES, True),
    ("shipped, EDGE_FRAME_VIEWS=off", {}, END_SQUARES, False),
]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="edge-frame-steps-"))
    video = make_videos(tmp, 60.0)["720p"]
    duration = probe(video).duration
    print("| step | visual indexing, 720p |\n|---|---|")
    for step, (name, swap, views, split) in enumerate(STEPS):
        bundles.frame_model_file = lambda settings, model, copies, swap=swap: swap.get(
            copies[0], CPU_FILE(settings, model, copies)
        )
        conse.views = views
        speeds = []
        for rep in range(args.reps):
            home = tmp / f"home-{step}-{rep}"  # a fresh store: every run indexes anew
            settings = dataclasses.replace(load_settings(), home=home, cache_dir=tmp / "cache", frame_views=split)
            indexer = Edge(settings).indexer(sources=(VISUAL,), progress=lambda message: None)
            t = time.perf_counter()
            indexer.index([video])
            speeds.append(duration / (time.perf_counter() - t))
        print(f"| {name} | {' / '.join(f'{s:.1f}x' for s in speeds)} realtime |", flush=True)


if __name__ == "__main__":
    main()
