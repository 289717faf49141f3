"""Fit a visual bundle's calibration (raw similarity -> 0-100) from calibration/visual-examples.json.

    python scripts/calibrate.py                       # the built-in ConSE bundle -> calibration/conse.json
    python scripts/calibrate.py --text                # text matching (conversation, text_in_video) -> calibration/text.json
    EDGE_VISUAL_BUNDLE=/path/bundle python scripts/calibrate.py --out /path/bundle/calibration.json

Each example image (and a few deterministic augmentations of it) is encoded by the bundle's image
encoder; every prompt of the file is embedded by its text encoder. A pair is positive when the prompt
is one of the image's "positive" prompts, negative when it belongs to no list of that image, and left
out when "related". A class-balanced logistic regression on the calibration feature (z-score against
the bundle's reference set, or raw cosine) gives a and b of score = 100 * sigmoid(a * (x - b)).
Prints AUC and the rates at the API's default clip (30) and video (75) thresholds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from edge.bundles import CONSE_CALIBRATION, TEXT_CALIBRATION, load_visual_bundle
from edge.settings import load_settings

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "calibration"  # the fit's inputs (not shipped)


def load_image(name: str) -> np.ndarray:
    plain = {"black": 0, "gray": 128, "white": 255}
    if name in plain:
        return np.full((480, 640, 3), plain[name], np.uint8)
    if name == "noise":
        return np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    from skimage import data

    image = getattr(data, name)()
    if name == "stereo_motorcycle":
        image = image[0]
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3]).astype(np.uint8)


def augment(image: np.ndarray, how: str) -> np.ndarray:
    h, w = image.shape[:2]
    if how == "flip":
        return np.ascontiguousarray(image[:, ::-1])
    if how == "crop_center_70":
        return np.ascontiguousarray(image[int(0.15 * h) : int(0.85 * h), int(0.15 * w) : int(0.85 * w)])
    if how == "crop_left_70":
        return np.ascontiguousarray(image[int(0.15 * h) : int(0.85 * h), : int(0.7 * w)])
    if how == "darker":
        return (image * 0.6).astype(np.uint8)
    if how == "brighter":
        return np.clip(image * 1.3 + 20, 0, 255).astype(np.uint8)
    if how == "blur":
        return cv2.GaussianBlur(image, (9, 9), 3)
    if how == "jpeg_noise":
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 20])
        return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return image


def fit_logistic(x: np.ndarray, y: np.ndarray, iterations: int = 50) -> tuple[float, float]:
    """Class-balanced logistic regression of y on x by Newton's method; returns (a, b)."""
    weights = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    w = np.zeros(2)
    design = np.stack([np.ones_like(x), x], axis=1)
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-design @ w))
        gradient = design.T @ (weights * (y - p))
        hessian = (design * (weights * p * (1 - p))[:, None]).T @ design + 1e-6 * np.eye(2)
        w += np.linalg.solve(hessian, gradient)
    return float(w[1]), float(-w[0] / w[1])


def auc(scores: np.ndarray, y: np.ndarray) -> float:
    ranks = np.argsort(np.argsort(scores)) + 1
    n_pos, n_neg = y.sum(), len(y) - y.sum()
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


FEATURE_TEXT = "zscore_centered"
STATISTICS_TEXT = "median_mad"  # robust to the reference texts that happen to be about a prompt


def text_pairs(examples: Path) -> tuple[np.ndarray, np.ndarray]:
    """Text calibration: every prompt against every text of calibration/text-examples.json; a pair is
    positive when both belong to the same topic. The feature is the centered z-score against the reference
    sentences (edge.calibration)."""
    from edge.bundles import TextModels

    spec = json.loads(examples.read_text())
    spec_x = {"kind": "logistic", "feature": FEATURE_TEXT, "statistics": STATISTICS_TEXT, "a": 1.0, "b": 0.0}
    models = TextModels(load_settings(), spec_x)
    prompts = [(t, p) for t, topic in enumerate(spec["topics"]) for p in topic["prompts"]]
    texts = [(t, x) for t, topic in enumerate(spec["topics"]) for x in topic["texts"]]
    prompt_vectors = models.encoder.encode([p for _, p in prompts])
    matrix, offset = models.calibration.prompt_transform(prompt_vectors)
    features = models.encoder.encode([x for _, x in texts]) @ matrix.T - offset
    same = np.array([[tt == tp for tp, _ in prompts] for tt, _ in texts])
    return features.ravel(), same.ravel().astype(int)


def image_pairs(examples: Path) -> tuple[np.ndarray, np.ndarray, str]:
    spec = json.loads(examples.read_text())
    settings = load_settings()
    # centered: a frame close to every prompt (many animals are close to "a bird") loses its own mean similarity
    feature = "cosine" if settings.visual_bundle != "conse" else "zscore_centered"
    bundle = load_visual_bundle(settings, {"kind": "logistic", "feature": feature, "a": 1.0, "b": 0.0})

    prompts = list(
        dict.fromkeys([p for item in spec["images"] for p in item["positive"] + item["related"]] + spec["distractors"])
    )
    prompt_vectors = bundle.text_encoder.encode(prompts)
    matrix, offset = bundle.calibration.prompt_transform(prompt_vectors)
    xs, ys = [], []
    for item in spec["images"]:
        image = load_image(item["image"])
        frames = [augment(image, how) for how in spec["augmentations"]]
        features = bundle.image_encoder.encode(frames) @ matrix.T - offset
        for j, prompt in enumerate(prompts):
            if prompt in item["related"]:
                continue
            xs.append(features[:, j])
            ys.append(np.full(len(frames), int(prompt in item["positive"])))
    return np.concatenate(xs), np.concatenate(ys), feature


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--text", action="store_true", help="fit the text-matching calibration instead")
    parser.add_argument("--examples", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.text:
        args.examples = args.examples or EXAMPLES_DIR / "text-examples.json"
        args.out = args.out or TEXT_CALIBRATION
        (x, y), feature = text_pairs(args.examples), FEATURE_TEXT
    else:
        args.examples = args.examples or EXAMPLES_DIR / "visual-examples.json"
        args.out = args.out or CONSE_CALIBRATION
        x, y, feature = image_pairs(args.examples)
    a, b = fit_logistic(x, y)
    scores = 100 / (1 + np.exp(-a * (x - b)))
    result = {
        "kind": "logistic",
        "feature": feature,
        **({"statistics": STATISTICS_TEXT} if args.text else {}),
        "a": round(a, 4),
        "b": round(b, 4),
        "fitted_on": {
            "examples": args.examples.name,
            "positives": int(y.sum()),
            "negatives": int((1 - y).sum()),
            "auc": round(auc(x, y), 4),
            "clip_threshold_30": {
                "true_positive_rate": round(float((scores[y == 1] >= 30).mean()), 3),
                "false_positive_rate": round(float((scores[y == 0] >= 30).mean()), 4),
            },
            "video_threshold_75": {
                "true_positive_rate": round(float((scores[y == 1] >= 75).mean()), 3),
                "false_positive_rate": round(float((scores[y == 0] >= 75).mean()), 4),
            },
        },
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
