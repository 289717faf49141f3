"""The figures of `make eval` (scripts/eval_metrics.py) on hand-made truth and responses (shared/evaluation.md)."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import eval_metrics as em  # noqa: E402

VIDEOS = [
    {
        "file": "a.mp4",
        "segments": [{"label": "cat", "source": "visual", "start": 0.0, "end": 5.0}],
        "ambiguous": [{"label": "dog", "source": "visual", "start": 5.0, "end": 8.0}],
    },
    {"file": "b.mp4", "segments": [{"label": "dog", "source": "visual", "start": 2.0, "end": 6.0}], "ambiguous": []},
    {"file": "c.mp4", "segments": [], "ambiguous": [], "expect": "error"},
    {
        "file": "d.mp4",
        "segments": [{"label": "cat", "source": "visual", "start": 0.0, "end": 9.0}],
        "ambiguous": [],
        "expect": "error_or_partial",
    },
]


def test_video_level_counts_ignore_ambiguous_pairs_refused_files_and_lost_parts():
    returned = {
        "a.mp4": {"cat": {"score": 90, "clips": []}, "dog": {"score": 80, "clips": []}},
        "b.mp4": {"cat": {"score": 80, "clips": []}},
    }
    got = em.video_level(VIDEOS, "visual", ["cat", "dog"], returned)
    # a: cat TP, dog ambiguous (ignored); b: cat FP, dog FN; d: cat missing but the file is truncated
    assert (got["tp"], got["fp"], got["fn"]) == (1, 1, 1)
    assert got["precision"] == 0.5 and got["recall"] == 0.5 and got["f1"] == 0.5


def test_average_precision_and_reliability_bins():
    scores, labels = np.array([95.0, 80.0, 60.0, 10.0]), np.array([True, False, True, False])
    assert em.average_precision(scores, labels) == pytest.approx((1 + 2 / 3) / 2, abs=1e-3)
    rows = em.reliability(np.full(25, 80.0), np.arange(25) < 20)
    assert rows[3] == {"bin": "75-90", "pairs": 25, "right": 0.8, "calibrated": True}
    assert rows[0]["pairs"] == 0 and rows[0]["calibrated"] is None
    assert em.reliability(np.full(25, 95.0), np.arange(25) < 5)[4]["calibrated"] is False


def test_segments_found_by_iou_or_close_edges_and_clips_off_truth():
    responses = {
        "a.mp4": {"cat": {"score": 90, "clips": [{"start": 0.5, "end": 5.5}, {"start": 7.0, "end": 9.0}]}},
        "b.mp4": {"dog": {"score": 90, "clips": [{"start": 2.5, "end": 3.0}]}},
    }
    got = em.segments(VIDEOS, "visual", ["cat", "dog"], responses)
    assert got["segments"] == 2 and got["found"] == 1  # b's clip overlaps by IoU 0.125 and its end is 3 s off
    assert got["start_error_s"] == 0.5 and got["end_error_s"] == 0.5
    assert got["clips"] == 3 and got["clips_off_truth"] == 1
