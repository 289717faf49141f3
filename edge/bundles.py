"""Visual bundles: an ImageEncoder, a TextEncoder in the same space, and the bundle's calibration.

`conse` (default) is built from the verified model store; any other value of EDGE_VISUAL_BUNDLE is the
path of an operator-provisioned CLIP/SigLIP bundle (see edge/dual.py). Scoring sees only VisualBundle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from edge.calibration import Calibration, mixture_reference
from edge.config import Settings
from edge.encoders import ImageEncoder, TextEncoder

CALIBRATION_DIR = Path(__file__).resolve().parent.parent / "calibration"
CONSE_CALIBRATION = CALIBRATION_DIR / "conse.json"


@dataclass(frozen=True)
class VisualBundle:
    name: str
    image_encoder: ImageEncoder
    text_encoder: TextEncoder
    calibration: Calibration

    @property
    def key(self) -> str:
        return self.image_encoder.key


@lru_cache(maxsize=4)  # one bge session per process: ConSE's labels and text matching (edge.textsources) share it
def load_text_encoder(settings: Settings) -> TextEncoder:
    from edge.modelstore import model_path
    from edge.text_bge import BgeTextEncoder

    name = "text-bge-small-en"
    return BgeTextEncoder(model_path(settings.models_dir, name, "model.onnx"),
                          model_path(settings.models_dir, name, "tokenizer.json"),
                          key=name, provider=settings.provider, threads=settings.threads)


def load_visual_bundle(settings: Settings, calibration: dict | None = None) -> VisualBundle:
    """The configured bundle; `calibration` replaces the stored one (used when refitting it)."""
    if settings.visual_bundle != "conse":
        from edge.dual import load_dual_bundle

        dual = load_dual_bundle(Path(settings.visual_bundle), settings.provider, settings.threads)
        return VisualBundle(Path(settings.visual_bundle).name, dual.image_encoder, dual.text_encoder,
                            Calibration.from_dict(calibration or dual.calibration))

    from edge.conse import ConseImageEncoder
    from edge.modelstore import model_path

    text = load_text_encoder(settings)
    store = settings.models_dir
    image = ConseImageEncoder(
        model_path(store, "image-efficientnet-lite3", "model.onnx"),
        model_path(store, "image-efficientnet-lite3", "labels.txt"),
        model_path(store, "detect-ssd-mobilenet-v2", "model.onnx"),
        model_path(store, "detect-ssd-mobilenet-v2", "labels.txt"),
        # One intra-op thread unless EDGE_THREADS says otherwise: as fast (7.4x vs 7.6x realtime at 720p, the
        # decoder overlaps on its own thread) for less CPU, and the work stays on the background-priority
        # frame thread (edge.library.scan_samples) instead of pool threads at normal priority.
        text, cache_dir=settings.cache_dir, provider=settings.provider, threads=settings.threads or 1)
    spec = calibration or json.loads(CONSE_CALIBRATION.read_text())
    return VisualBundle("conse", image, text, Calibration.from_dict(spec, mixture_reference(image.label_vectors)))
