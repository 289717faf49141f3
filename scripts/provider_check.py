"""Which onnxruntime execution provider edge gets on this machine, and how fast the encoders run on it.

    python scripts/provider_check.py [MODELS_DIR]     # default: the configured model store

For each provider setting (automatic TensorRT -> CUDA -> CPU choice, then each one forced) it opens the
text encoder and the ImageNet classifier through edge.runtime, reports the providers the session really
uses (or the clear error when one is missing), and times 100 prompts and 64 frames. JSON on stdout.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edge.runtime import ProviderError, open_session
from edge.text_bge import BgeTextEncoder


def _time(fn, reps: int = 5) -> float:
    fn()  # warm-up: kernels, TensorRT engine build, memory arenas
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps


def main() -> None:
    if len(sys.argv) > 1:
        models = Path(sys.argv[1])
    else:
        from edge.settings import load_settings

        models = load_settings().models_dir
    prompts = [f"a photo of a {word} number {i}" for i, word in enumerate(["cat", "dog", "car", "cup"] * 25)]
    frames = np.random.default_rng(0).integers(0, 256, (64, 280, 280, 3), dtype=np.uint8)
    report = {"onnxruntime": ort.__version__, "available": ort.get_available_providers(), "runs": []}
    for forced in (None, "tensorrt", "cuda", "cpu"):
        run = {"forced": forced}
        try:
            text = BgeTextEncoder(
                models / "text-bge-small-en" / "model.onnx",
                models / "text-bge-small-en" / "tokenizer.json",
                key="check",
                provider=forced,
            )
            classifier = open_session(models / "image-efficientnet-lite3" / "model.onnx", forced)
            run["text_providers"] = text._session.get_providers()
            run["image_providers"] = classifier.get_providers()
            run["text_100_prompts_ms"] = round(1000 * _time(lambda: text.encode(prompts)), 2)
            run["image_frames_per_s"] = round(
                64 / _time(lambda: [classifier.run(None, {"images": f[None]}) for f in frames], reps=2), 1
            )
        except ProviderError as exc:
            run["error"] = str(exc)
        report["runs"].append(run)
        print(json.dumps(run), file=sys.stderr)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
