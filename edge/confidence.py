"""Sample scores -> the scores the API returns: a clip's and a class's probability of being right, x 100.

The sample calibration (edge.calibration) says how unusual a match is for its prompt; it is not a probability
of anything the API returns. Per source, fitted on the development set's fit part by `scripts/fit_scores.py`
(numbers in the calibration file):
- clip: a sample score s becomes sigmoid(a * logit(s) + b), the probability that the class is there at that
  sample; a clip's score is its peak, so `min_clip_score` reads as a probability too. Monotonic: clips, their
  order and the prompt at the peak stay what the sample scores make them.
- video: a logistic regression over the whole series of a class's clip-level probabilities in a video (peak,
  the mean of the best three, the share of samples at >= 0.5, the mean), so a class that is weakly similar
  everywhere (correlated samples) is not added up into certainty. Exact matches use the best reader
  confidence and the number of matches (log), and whether a word-for-word reading found them (rather than only
  a tolerant one: the sound-alike fallback for speech, a tolerated OCR error on screen). Every slope is fitted
  >= 0, so each feature is written the way that is more evidence.
A class found through several sources takes the highest of its per-source probabilities.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edge.calibration import Calibration
from edge.modelfiles import DATA_DIR

SCORES_FILE = DATA_DIR / "scores.json"
SEMANTIC_FEATURES = ("peak", "top3", "support", "mean")
EXACT_FEATURES = ("peak", "log_count", "word_for_word")
_EPS = 1e-4


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def semantic_features(probs: np.ndarray) -> np.ndarray:
    """[C, 4] features of probability series [S, C] (one column per class)."""
    if probs.shape[0] == 0:
        nothing = logit(np.array(0.0))
        return np.tile([nothing, nothing, 0.0, nothing], (probs.shape[1], 1))
    k = min(3, probs.shape[0])
    top = -np.partition(-probs, k - 1, axis=0)[:k]  # the best three, unordered: O(S) per class
    return np.stack(
        [logit(top.max(axis=0)), logit(top.mean(axis=0)), (probs >= 0.5).mean(axis=0), logit(probs.mean(axis=0))],
        axis=1,
    )


def exact_features(confidences: list[float], fuzzy_only: bool) -> np.ndarray:
    peak = max(confidences) / 100.0 if confidences else 0.0
    return np.array([logit(np.array(peak)), np.log(len(confidences)) if confidences else 0.0, float(not fuzzy_only)])


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class SourceModel:
    clip_a: float = 1.0
    clip_b: float = 0.0
    weights: tuple[float, ...] = ()  # intercept first, then one per feature
    exact_weights: tuple[float, ...] = ()

    def clip_scores(self, sample_scores: np.ndarray) -> np.ndarray:
        """Sample scores (0-100) -> clip-level probabilities x 100, elementwise and monotonic."""
        return (100.0 * _sigmoid(self.clip_a * logit(sample_scores / 100.0) + self.clip_b)).astype(np.float32)

    def compose(self, calibration: Calibration) -> Calibration:
        """The sample calibration followed by clip_scores, as one logistic: a sample score is
        sigmoid(a (x - b)), so sigmoid(clip_a logit(s) + clip_b) = sigmoid(clip_a a (x - b) + clip_b)."""
        a = self.clip_a * calibration.a
        return replace(calibration, a=a, b=calibration.b - self.clip_b / a)

    def video_scores(self, clip_scores: np.ndarray) -> np.ndarray:
        """[S, C] clip-level scores of a source's samples -> [C] class scores (0-100)."""
        x = semantic_features(clip_scores / 100.0)
        w = np.asarray(self.weights)
        return 100.0 * _sigmoid(w[0] + x @ w[1:])

    def exact_score(self, confidences: list[float], fuzzy_only: bool = False) -> float:
        if not confidences:
            return 0.0
        w = np.asarray(self.exact_weights)
        return float(100.0 * _sigmoid(w[0] + exact_features(confidences, fuzzy_only) @ w[1:]))


class Confidence:
    """The per-source models of a calibration file (see SCORES_FILE)."""

    def __init__(self, models: dict[str, SourceModel]):
        self.models = models

    @classmethod
    def load(cls, path: Path = SCORES_FILE) -> Confidence:
        spec = json.loads(Path(path).read_text())
        if spec.get("kind") != "clip-and-video-logistic":
            raise ValueError(f"{path}: unsupported score calibration kind {spec.get('kind')!r}")
        expected = {"video": list(SEMANTIC_FEATURES), "exact": list(EXACT_FEATURES)}
        if spec.get("features") != expected:  # weights are read by position: other features would be misread
            raise ValueError(f"{path}: fitted on features {spec.get('features')}, this version reads {expected}")
        models = {}
        for source, m in spec["sources"].items():
            models[source] = SourceModel(
                float(m["clip"]["a"]),
                float(m["clip"]["b"]),
                tuple(m["video"]["weights"]),
                tuple(m.get("exact", {}).get("weights", ())),
            )
        return cls(models)

    def __getitem__(self, source: str) -> SourceModel:
        return self.models[source]
