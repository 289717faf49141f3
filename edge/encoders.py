"""The model interfaces scoring depends on: encoders turn frames or strings into unit vectors.

Every visual bundle (the offline ConSE default, or an operator's CLIP/SigLIP export) provides an
`ImageEncoder` and a `TextEncoder` that share one embedding space, plus a `Calibration` that maps raw
cosine similarity in that space to a 0-100 score. Scoring sees only these three.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class TextEncoder(Protocol):
    key: str  # names model and version; stored next to every vector it made
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """float32 [len(texts), dim], rows L2-normalised."""


class ImageEncoder(Protocol):
    key: str
    dim: int

    def encode(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """frames: RGB uint8 HxWx3 (any size). Returns float32 [len(frames), dim], rows L2-normalised."""


def l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)
