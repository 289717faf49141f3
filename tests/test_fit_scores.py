"""The API-level score fit (scripts/fit_scores.py) on hand-made sample scores."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import fit_scores  # noqa: E402


def _video(name, labels, starts, scores):
    """A video whose text_in_video source holds one segment per start (1 s long), scored for class "sale"."""
    truth = {
        "file": name,
        "segments": [{"label": "sale", "source": "text_in_video", "start": 0.0, "end": 30.0} for _ in labels],
        "ambiguous": [],
    }
    row = {
        "file": name,
        "starts": starts,
        "ends": [s + 1.0 for s in starts],
        "scores": [scores],
        "classes": ["sale"],
        "exact": {"word:SALE": {"confidences": [90.0], "fuzzy": False}},
    }
    return truth, row


def test_video_fit_leaves_out_videos_without_any_segment_of_the_source():
    """A class can never be returned from a video where the source found nothing (no text on screen): such a
    pair says nothing about how scores map to probabilities, and counted as a positive at zero evidence it
    would flatten the slope of every other pair's score."""
    rng = np.random.default_rng(0)
    videos, rows = [], []
    for k in range(40):
        positive = k % 4 == 0
        truth, row = _video(
            f"v{k}",
            ["sale"] if positive else [],
            [2.0],
            [float(rng.uniform(85, 99) if positive else rng.uniform(1, 40))],
        )
        videos.append(truth)
        rows.append(row)
    fitted = fit_scores.fit({"text_in_video": rows}, {"videos": videos})
    for k in range(40, 46):  # positives whose text was never read
        truth, row = _video(f"v{k}", ["sale"], [], [])
        videos.append(truth)
        rows.append(row)
    refitted = fit_scores.fit({"text_in_video": rows}, {"videos": videos})
    assert refitted["fit"]["text_in_video"]["video_pairs"] == fitted["fit"]["text_in_video"]["video_pairs"] == 40
    assert refitted["sources"]["text_in_video"]["video"] == fitted["sources"]["text_in_video"]["video"]
