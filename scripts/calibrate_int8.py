"""INT8 calibration tables for TensorRT, from the frames in edge/data/int8/frames.

    python scripts/calibrate_int8.py [--make-frames]

The SSD detector is a float model; TensorRT runs it in INT8 (EDGE_TRT_PRECISION=int8) only with each
tensor's dynamic range, measured here by onnxruntime.quantization's MinMax calibrator (on the CPU: no GPU
needed) over frames prepared exactly as edge.conse feeds the detector. The table goes to
edge/data/int8/<model>.flatbuffers (package data, read by edge.runtime). EfficientNet-Lite3 is already
quantized (QDQ), so TensorRT takes its scales from the graph and it needs no table.

--make-frames rewrites edge/data/int8/frames: 28 frames from the photos that ship in scikit-image's wheel
(package media, never held-out media), each whole, zoomed, darkened and brightened.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FRAMES = ROOT / "edge" / "data" / "int8" / "frames"  # package data: edge.install.quantize calibrates with them too
OUT = ROOT / "edge" / "data" / "int8"
sys.path.insert(0, str(ROOT / "scripts"))


def make_frames() -> None:
    from make_sample import PHOTOS

    FRAMES.mkdir(parents=True, exist_ok=True)
    for old in FRAMES.glob("*.jpg"):
        old.unlink()
    for name, load in sorted(PHOTOS.items()):
        rgb = load()
        h, w = rgb.shape[:2]
        variants = {
            "whole": rgb,
            "zoom": rgb[h // 6 : h - h // 6, w // 6 : w - w // 6],
            "dark": (rgb * 0.55).astype(np.uint8),
            "bright": np.clip(rgb * 1.3 + 20, 0, 255).astype(np.uint8),
        }
        for variant, image in variants.items():
            # 480 px wide keeps the set small (~1 MB) and is more than the detector's 300 x 300 input sees.
            scale = 480 / image.shape[1]
            small = cv2.resize(image, (480, round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
            cv2.imwrite(
                str(FRAMES / f"{name}-{variant}.jpg"),
                cv2.cvtColor(small, cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 85],
            )


def detector_batches():
    """The frames as edge.conse.ConseImageEncoder._detect prepares them, one at a time."""
    from edge.conse import DETECTOR_INPUT, detector_input
    from edge.install.quantize import calibration_frames

    for rgb in calibration_frames():
        yield {DETECTOR_INPUT: detector_input([rgb])}


def calibrate(model_path: Path, name: str) -> Path:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        create_calibrator,
        write_calibration_table,
    )

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = detector_batches()

        def get_next(self):
            return next(self.batches, None)

    with tempfile.TemporaryDirectory() as tmp:
        calibrator = create_calibrator(
            model_path,
            augmented_model_path=str(Path(tmp) / "augmented.onnx"),
            calibrate_method=CalibrationMethod.MinMax,
        )
        calibrator.collect_data(Reader())
        write_calibration_table(calibrator.compute_data(), dir=tmp)
        OUT.mkdir(parents=True, exist_ok=True)
        out = OUT / f"{name}.flatbuffers"
        shutil.copyfile(Path(tmp) / "calibration.flatbuffers", out)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--make-frames", action="store_true", help="regenerate edge/data/int8/frames first")
    args = ap.parse_args(argv)
    if args.make_frames or not any(FRAMES.glob("*.jpg")):
        make_frames()
    from edge.modelfiles import model_path
    from edge.settings import load_settings

    name = "detect-ssd-mobilenet-v2"
    out = calibrate(model_path(load_settings().models_dir, name, "model.onnx"), name)
    frames = sorted(p.name for p in FRAMES.glob("*.jpg"))
    print(json.dumps({"table": str(out.relative_to(ROOT)), "bytes": out.stat().st_size, "frames": len(frames)}))


if __name__ == "__main__":
    main()
