"""Fit the API-level score calibration (edge/confidence.py) on the development set's FIT part only.

    python scripts/fit_scores.py                       # needs `scripts/evaluate.py --part fit` (or edge index) first
    python scripts/fit_scores.py --out calibration/scores.json

Reads the fit part's store (build/eval/fit/home), scores every indexed video against the fit part's classes with
the sample calibration alone, and fits per source, by logistic regression (maximum likelihood, a little L2 on
the slopes):
- clip: P(class there at a sample | sample score), labels from the ground-truth segments of each sample's time;
- video: P(class in the video | features of its clip-level series), one pair per (video, class), every slope
  >= 0 (monotonic: more evidence never lowers the score);
- exact: P(class in the video | best reader confidence, number of matches, read word for word), every slope
  >= 0 too.
Ambiguous spans are left out of every fit. The fit's numbers (pairs, positives, log-loss, in-sample
reliability) go into the file beside the weights.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import eval_metrics as em  # noqa: E402

from edge import confidence as cf  # noqa: E402

SOURCES = ("visual", "conversation", "text_in_video")
PEAK_PRIOR = [0.0, 1.0, 0.0, 0.0, 0.0]  # intercept, then the weights of cf.SEMANTIC_FEATURES
EXACT_PRIOR = [0.0, 1.0, 0.0, 0.0]  # intercept, then cf.EXACT_FEATURES


def fit_logistic(
    x: np.ndarray, y: np.ndarray, l2: float = 1.0, prior: np.ndarray | None = None, iterations: int = 50
) -> np.ndarray:
    """Weights (intercept first) maximising the log-likelihood minus l2/2 * |w - prior|^2 (Newton steps).

    The prior (default 0) is where few examples leave the weights: for the video and exact models it is
    "score = the best clip's probability" (weight 1 on the peak), so a source with little fit data stays sane."""
    x1 = np.hstack([np.ones((len(x), 1)), x])
    prior = np.zeros(x1.shape[1]) if prior is None else np.asarray(prior, float)
    w = prior.copy()
    penalty = np.full(x1.shape[1], l2)
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-(x1 @ w)))
        grad = x1.T @ (p - y) + penalty * (w - prior)
        hess = (x1 * (p * (1 - p))[:, None]).T @ x1 + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def fit_monotonic(x: np.ndarray, y: np.ndarray, l2: float, prior: list[float]) -> np.ndarray:
    """fit_logistic with every slope >= 0 (more evidence never lowers a score): a feature whose slope comes out
    negative is dropped (slope 0) and the rest refitted."""
    active = list(range(x.shape[1]))
    while True:
        sub = fit_logistic(x[:, active], y, l2, np.asarray(prior)[[0] + [k + 1 for k in active]])
        negative = [k for k, w in zip(active, sub[1:]) if w < 0]
        if not negative:
            w = np.zeros(x.shape[1] + 1)
            w[0] = sub[0]
            for k, v in zip(active, sub[1:]):
                w[k + 1] = v
            return w
        active.remove(min(negative, key=lambda k: sub[1 + active.index(k)]))


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return round(float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))), 4)


def collect(store_home: Path, truth: dict, part: str = "fit") -> dict:
    """Raw sample scores per (source, video) and exact-match confidences per (source, video, class)."""
    import os

    os.environ["EDGE_HOME"] = str(store_home)
    from edge.appliance import Edge
    from edge.classify import Classifier
    from edge.contract import ApiError, parse_request

    edge = Edge()
    identity = cf.Confidence({s: cf.SourceModel(1.0, 0.0, (0, 1, 0, 0, 0), (0, 1, 0, 0)) for s in SOURCES})
    classifier = Classifier(edge.store, edge.bundle, text=edge.text, confidence=identity)
    videos = {Path(v.path).resolve(): v for v in classifier.store.videos()}
    root = (Path("build/devset") / part).resolve().parent
    data = {}
    for source in SOURCES:
        classes = truth["classes"][part][source]
        semantic = {n: c for n, c in classes.items() if not c.get("exact")}
        exact = {n: c for n, c in classes.items() if c.get("exact")}
        body = {
            "video_ids": ["x"],
            "options": [source],
            "conversation_option": "semantic",
            "classes": [{"name": n, "prompts": c["prompts"]} for n, c in semantic.items()],
        }
        embedded = classifier.embed_prompts(parse_request(body))
        rows = []
        for v in truth["videos"]:
            row = videos.get((root / v["file"]).resolve())
            if v["part"] != part or row is None:
                continue
            try:
                starts, ends, scores, _ = classifier._semantic(row, source, embedded)
            except ApiError:  # the source failed on this file (a broken audio track): no evidence, as refused
                continue
            item = {
                "file": v["file"],
                "starts": starts.tolist(),
                "ends": ends.tolist(),
                "scores": scores.T.tolist(),
                "classes": list(semantic),
            }
            if exact and source != "visual":
                item["exact"] = {}
                for n, spec in exact.items():
                    found, fuzzy = classifier.exact_matches(row, source, tuple(spec["prompts"]))
                    item["exact"][n] = {"confidences": [c.score for c in found], "fuzzy": fuzzy}
            rows.append(item)
        data[source] = rows
    return data


def _states(video: dict, source: str, label: str, a: float, b: float) -> str:
    """'pos' when [a, b] overlaps a segment of the label, 'ambiguous' when only an ambiguous span, else 'neg'."""

    def hits(key):
        return any(
            s["source"] == source and s["label"] == label and min(b, s["end"]) - max(a, s["start"]) > 0.25 * (b - a)
            for s in video.get(key, [])
        )

    return "pos" if hits("segments") else "ambiguous" if hits("ambiguous") else "neg"


def fit(data: dict, truth: dict) -> dict:
    by_file = {v["file"]: v for v in truth["videos"]}
    out = {
        "kind": "clip-and-video-logistic",
        "features": {"video": list(cf.SEMANTIC_FEATURES), "exact": list(cf.EXACT_FEATURES)},
        "sources": {},
        "fit": {},
    }
    for source, rows in data.items():
        xs, ys = [], []
        for r in rows:
            v = by_file[r["file"]]
            for c, series in zip(r["classes"], r["scores"]):
                for a, b, s in zip(r["starts"], r["ends"], series):
                    state = _states(v, source, c, a, b)
                    if state != "ambiguous":
                        xs.append(s)
                        ys.append(state == "pos")
        x, y = cf.logit(np.asarray(xs) / 100.0)[:, None], np.asarray(ys, float)
        clip_w = fit_logistic(x, y, l2=1e-3)
        model = cf.SourceModel(float(clip_w[1]), float(clip_w[0]))
        feats, labels = [], []
        for r in rows:
            v = by_file[r["file"]]
            if v.get("expect") == "error_or_partial" or not r["starts"]:
                continue  # without any segment of the source no class can be returned: its score never counts
            raw = np.asarray(r["scores"], float).reshape(len(r["classes"]), len(r["starts"])).T
            probs = model.clip_scores(raw) / 100.0
            f = cf.semantic_features(probs)
            present = {s["label"] for s in v["segments"] if s["source"] == source}
            unsure = {s["label"] for s in v["ambiguous"] if s["source"] == source}
            for k, c in enumerate(r["classes"]):
                if c in unsure and c not in present:
                    continue
                feats.append(f[k])
                labels.append(c in present)
        fx, fy = np.asarray(feats), np.asarray(labels, float)
        video_w = fit_monotonic(fx, fy, 1.0, PEAK_PRIOR)
        p = 1 / (1 + np.exp(-(video_w[0] + fx @ video_w[1:])))
        entry = {
            "clip": {"a": round(float(clip_w[1]), 4), "b": round(float(clip_w[0]), 4)},
            "video": {"weights": [round(float(w), 4) for w in video_w]},
        }
        stats = {
            "clip_samples": int(len(y)),
            "clip_positives": int(y.sum()),
            "clip_log_loss": log_loss(1 / (1 + np.exp(-(clip_w[0] + x[:, 0] * clip_w[1]))), y),
            "video_pairs": int(len(fy)),
            "video_positives": int(fy.sum()),
            "video_log_loss": log_loss(p, fy),
            "video_ap": em.average_precision(100 * p, fy.astype(bool)),
            "video_reliability_in_sample": em.reliability(100 * p, fy.astype(bool)),
        }
        if source != "visual":
            ex, ey = [], []
            for r in rows:
                v = by_file[r["file"]]
                present = {s["label"] for s in v["segments"] if s["source"] == source}
                for c, found in r.get("exact", {}).items():
                    if found["confidences"]:  # without a match the score is 0 by rule
                        ex.append(cf.exact_features(found["confidences"], found["fuzzy"]))
                        ey.append(c in present)
            ex, ey = np.asarray(ex), np.asarray(ey, float)
            exact_w = fit_monotonic(ex, ey, 3.0, EXACT_PRIOR)
            entry["exact"] = {"weights": [round(float(w), 4) for w in exact_w]}
            pe = 1 / (1 + np.exp(-(exact_w[0] + ex @ exact_w[1:])))
            stats.update(exact_pairs=int(len(ey)), exact_positives=int(ey.sum()), exact_log_loss=log_loss(pe, ey))
        out["sources"][source] = entry
        out["fit"][source] = stats
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devset", type=Path, default=Path("build/devset"))
    ap.add_argument("--store", type=Path, default=Path("build/eval/fit/home"))
    ap.add_argument(
        "--cache",
        type=Path,
        default=Path("build/eval/fit/scores.json"),
        help="the collected sample scores (reused unless --recollect)",
    )
    ap.add_argument("--recollect", action="store_true")
    ap.add_argument("--out", type=Path, default=cf.SCORES_FILE)
    ap.add_argument(
        "--sources", nargs="+", choices=SOURCES, help="refit only these; the other sources keep their models in --out"
    )
    args = ap.parse_args(argv)
    truth = json.loads((args.devset / "truth.json").read_text())
    if args.recollect or not args.cache.is_file():
        args.cache.write_text(json.dumps(collect(args.store.resolve(), truth)))
    data = json.loads(args.cache.read_text())
    result = fit({s: rows for s, rows in data.items() if s in (args.sources or SOURCES)}, truth)
    if args.sources:
        kept = json.loads(args.out.read_text())
        for key in ("sources", "fit"):
            result[key] = {s: result[key].get(s, kept[key][s]) for s in SOURCES}
    result["fitted_on"] = "development set, fit part (scripts/devset.py; report part never seen)"
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["fit"], indent=1))


if __name__ == "__main__":
    main()
