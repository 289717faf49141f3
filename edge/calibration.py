"""Raw cosine similarity -> 0-100 score, through a logistic function fitted per visual bundle.

Raw cosines of the text encoder cluster high (unrelated ~0.5-0.7) and some prompts score high against
anything. When the bundle has a reference set (vectors of typical frames), each prompt's cosine is first
turned into a z-score against that set, so "how unusual is this match for this prompt" is what gets
calibrated. Then score = 100 * sigmoid(a * (x - b)), with a and b fitted by `scripts/calibrate.py`
from the labelled examples in `calibration/` (see calibration/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_MAD_TO_STD = 1.4826  # the MAD of a normal distribution times this is its standard deviation


@dataclass(frozen=True)
class Calibration:
    a: float
    b: float
    reference: np.ndarray | None = None  # [n, dim] unit vectors of typical frames, or None: raw cosine
    centered: bool = False  # also remove each segment's own mean similarity to the reference (zscore_centered)
    robust: bool = False  # the prompt's median and MAD against the reference instead of its mean and std

    @classmethod
    def from_dict(cls, spec: dict, reference: np.ndarray | None = None) -> Calibration:
        if spec.get("kind") != "logistic":
            raise ValueError(f"unsupported calibration kind {spec.get('kind')!r}")
        feature = spec.get("feature", "cosine")
        if feature not in ("cosine", "zscore", "zscore_centered"):
            raise ValueError(f"unsupported calibration feature {feature!r}")
        if feature != "cosine" and reference is None:
            raise ValueError(f"a {feature} calibration needs the reference vectors")
        statistics = spec.get("statistics", "mean_std")
        if statistics not in ("mean_std", "median_mad"):
            raise ValueError(f"unsupported reference statistics {statistics!r}")
        return cls(
            float(spec["a"]),
            float(spec["b"]),
            reference if feature != "cosine" else None,
            feature == "zscore_centered",
            statistics == "median_mad",
        )

    def prompt_transform(self, prompt_vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(matrix [P, dim], offset [P]) so that feature = segment_vector @ matrix.T - offset, per prompt.

        zscore: (cos - mean_p) / std_p, the prompt's cosine against its cosines with the reference set (median and
        1.4826 x MAD for mean and std when `robust`).
        zscore_centered: the segment's own mean similarity to the reference is removed too (short texts
        such as signs are close to everything). As that mean is the segment's dot product with the
        reference centroid c, the feature is (segment - c) . (prompt - c) / std_p, all on the prompt side.
        """
        n = len(prompt_vectors)
        if self.reference is None:
            return prompt_vectors, np.zeros(n, np.float32)
        sims = prompt_vectors @ self.reference.T
        if self.robust:
            # A few reference texts are bound to be about the prompt (a "street sign" prompt meets MAIN STREET):
            # the median and the MAD ignore them where the mean and std would let them lower every z-score.
            mean = np.median(sims, axis=1)
            spread = _MAD_TO_STD * np.median(np.abs(sims - mean[:, None]), axis=1)
        else:
            mean, spread = sims.mean(axis=1), sims.std(axis=1)
        scale = 1.0 / np.maximum(spread, 1e-6)
        if not self.centered:
            return (prompt_vectors * scale[:, None]).astype(np.float32), (mean * scale).astype(np.float32)
        centroid = self.reference.mean(axis=0)
        matrix = (prompt_vectors - centroid) * scale[:, None]
        return matrix.astype(np.float32), ((mean - centroid @ centroid) * scale).astype(np.float32)

    def to_score(self, feature: np.ndarray) -> np.ndarray:
        return (100.0 / (1.0 + np.exp(-self.a * (feature - self.b)))).astype(np.float32)


def mixture_reference(label_vectors: np.ndarray, n: int = 2000, labels_per_frame: int = 5, seed: int = 0) -> np.ndarray:
    """Typical ConSE frame vectors without any images: random sparse mixtures of label embeddings.

    A frame showing nothing in particular looks like such a mixture, so z-scores against it put
    "nothing recognised" near 0 and a real match several deviations above.
    """
    rng = np.random.default_rng(seed)
    weights = np.zeros((n, len(label_vectors)), np.float32)
    for row in weights:
        chosen = rng.choice(len(label_vectors), labels_per_frame, replace=False)
        row[chosen] = rng.dirichlet(np.full(labels_per_frame, 0.5))
    mixed = weights @ label_vectors
    return (mixed / np.linalg.norm(mixed, axis=1, keepdims=True)).astype(np.float32)
