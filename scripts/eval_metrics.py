"""The figures of shared/evaluation.md, from ground truth and classify responses (pure functions, no I/O).

responses: {video file: {class name: {"score": s, "clips": [{start, end, score, ...}]}}} for one source and run.
"""

from __future__ import annotations

import numpy as np

BINS = [(0, 30), (30, 50), (50, 75), (75, 90), (90, 100.01)]


def _spans(video: dict, source: str, key: str = "segments") -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list] = {}
    for s in video.get(key, []):
        if s["source"] == source:
            out.setdefault(s["label"], []).append((s["start"], s["end"]))
    return out


def scored_videos(videos: list[dict]) -> list[dict]:
    """Videos whose results are judged: not the ones that must be refused."""
    return [v for v in videos if v.get("expect") != "error"]


def pairs(videos: list[dict], source: str, classes: list[str]):
    """(video, class, state) for every pair: state 'pos', 'neg' or 'ambiguous' (neither required nor wrong)."""
    for v in scored_videos(videos):
        present, unsure = _spans(v, source), _spans(v, source, "ambiguous")
        for c in classes:
            yield v, c, "pos" if c in present else "ambiguous" if c in unsure else "neg"


def video_level(videos, source, classes, responses) -> dict:
    tp = fp = fn = 0
    for v, c, state in pairs(videos, source, classes):
        returned = c in responses.get(v["file"], {})
        if returned and state == "pos":
            tp += 1
        elif returned and state == "neg":
            fp += 1
        elif not returned and state == "pos" and v.get("expect") != "error_or_partial":
            fn += 1  # a truncated file need not yield what its lost part held
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": round(p, 3),
        "recall": round(r, 3),
        "f1": round(2 * p * r / (p + r), 3) if p + r else 0.0,
    }


def scores_and_labels(videos, source, classes, responses) -> tuple[np.ndarray, np.ndarray]:
    scores, labels = [], []
    for v, c, state in pairs(videos, source, classes):
        if state == "ambiguous" or v.get("expect") == "error_or_partial":
            continue
        scores.append(responses.get(v["file"], {}).get(c, {}).get("score", 0.0))
        labels.append(state == "pos")
    return np.asarray(scores, float), np.asarray(labels, bool)


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    if not labels.any():
        return 0.0
    order = np.argsort(-scores, kind="stable")
    hits = labels[order]
    precision_at = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return round(float(precision_at[hits].mean()), 3)


def reliability(scores: np.ndarray, labels: np.ndarray) -> list[dict]:
    rows = []
    for lo, hi in BINS:
        inside = (scores >= lo) & (scores < hi)
        n = int(inside.sum())
        rows.append(
            {
                "bin": f"{lo}-{min(hi, 100):g}",
                "pairs": n,
                "right": round(float(labels[inside].mean()), 3) if n else None,
                "calibrated": None if n < 20 else bool(lo - 10 <= 100 * labels[inside].mean() <= hi + 10),
            }
        )
    return rows


def _iou(a, b) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def segments(videos, source, classes, responses) -> dict:
    """Ground-truth segments found by a clip of their class, edge errors of the found ones, clips off truth."""
    total = found = off = clips_n = 0
    starts, ends = [], []
    for v in scored_videos(videos):
        truth, unsure = _spans(v, source), _spans(v, source, "ambiguous")
        got = responses.get(v["file"], {})
        for c in classes:
            clips = [(k["start"], k["end"]) for k in got.get(c, {}).get("clips", [])]
            for seg in truth.get(c, []):
                if v.get("expect") == "error_or_partial":
                    continue
                total += 1
                best = max(clips, key=lambda k: _iou(k, seg), default=None)
                hit = [k for k in clips if _iou(k, seg) >= 0.3 or (abs(k[0] - seg[0]) <= 1 and abs(k[1] - seg[1]) <= 1)]
                if hit:
                    found += 1
                    best = best if best in hit else hit[0]
                    starts.append(abs(best[0] - seg[0]))
                    ends.append(abs(best[1] - seg[1]))
            for k in clips:
                clips_n += 1
                spans = truth.get(c, []) + unsure.get(c, [])
                if not any(min(k[1], s[1]) > max(k[0], s[0]) for s in spans):
                    off += 1
    return {
        "segments": total,
        "found": found,
        "clips": clips_n,
        "clips_off_truth": off,
        "start_error_s": round(float(np.mean(starts)), 2) if starts else None,
        "end_error_s": round(float(np.mean(ends)), 2) if ends else None,
    }


def source_figures(videos, source, classes, run1, defaults, run2) -> dict:
    scores, labels = scores_and_labels(videos, source, classes, run2)
    return {
        "classes": len(classes),
        "pairs": int(len(labels)),
        "positives": int(labels.sum()),
        "run1": video_level(videos, source, classes, run1),
        "defaults": video_level(videos, source, classes, defaults),
        "ap": average_precision(scores, labels),
        "reliability": reliability(scores, labels),
        "segments": segments(videos, source, classes, run1),
        "per_class": {
            c: {**video_level(videos, source, [c], run1), "found": segments(videos, source, [c], run1)["found"]}
            for c in classes
        },
    }
