"""exact_match on the development set's rare-name classes alone: per (video, name) pair, found or not, through the
classifier an operator's request reaches, on an already indexed part (scripts/evaluate.py builds its store).

    python scripts/eval_names.py --part fit     # recall / precision of the name classes, and the time it took

Prints JSON: true/false positives and negatives at the contract's defaults and with min_duration_ratio 0.05 and 0.01, the
pairs missed and wrongly found, and the classify time (re-decoding included) per video.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", default="fit")
    ap.add_argument("--devset", type=Path, default=Path("build/devset"))
    ap.add_argument("--work", type=Path, default=Path("build/eval"))
    args = ap.parse_args(argv)
    os.environ["EDGE_HOME"] = str((args.work / args.part / "home").resolve())
    from edge.appliance import Edge
    from edge.contract import parse_request

    truth = json.loads((args.devset / "truth.json").read_text())
    names = {n: c for n, c in truth["classes"][args.part]["conversation"].items() if c.get("exact")}
    edge = Edge()
    classifier = edge.classifier
    videos = {Path(v.path).resolve(): v for v in classifier.store.videos()}
    result = {}
    # a name takes ~0.7 s: in a video over 14 s long it cannot reach min_duration_ratio 0.05, found or not
    runs = (
        ("defaults", {}),
        ("ratio_0.05", {"min_duration_ratio": 0.05}),
        ("ratio_0.01", {"min_duration_ratio": 0.01}),
    )
    for label, threshold in runs:
        body = {
            "video_ids": ["x"],
            "options": ["conversation"],
            "conversation_option": "exact_match",
            "classes": [{"name": n, "prompts": c["prompts"]} for n, c in names.items()],
            "threshold": threshold,
        }
        request = parse_request(body)
        tp, fp, fn, seconds, n_videos, missed, wrong = 0, 0, 0, 0.0, 0, [], []
        for v in truth["videos"]:
            row = videos.get((args.devset.resolve() / v["file"]).resolve())
            if v["part"] != args.part or row is None:
                continue
            there = {s["label"] for s in v["segments"] if s["label"] in names}
            t0 = time.perf_counter()
            found = {c["name"]: c["score"] for c in classifier.score_video(row, request, None)}
            seconds += time.perf_counter() - t0
            n_videos += 1
            tp += len(there & found.keys())
            fp += len(found.keys() - there)
            fn += len(there - found.keys())
            missed += [f"{v['file']} {n}" for n in sorted(there - found.keys())]
            wrong += [f"{v['file']} {n} {found[n]}" for n in sorted(found.keys() - there)]
            found_there = [f"{v['file']} {n} {found[n]}" for n in sorted(there & found.keys())]
            print(
                f"file={v['file']} threshold={label} found={found_there} seconds={time.perf_counter() - t0:.2f}",
                file=sys.stderr,
                flush=True,
            )
        p, r = tp / max(1, tp + fp), tp / max(1, tp + fn)
        result[label] = {
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "precision": round(p, 3),
            "recall": round(r, 3),
            "f1": round(2 * p * r / max(1e-9, p + r), 3),
            "missed": missed,
            "wrongly_found": wrong,
            "classify_s_per_video": round(seconds / max(1, n_videos), 3),
        }
    from edge import redecode

    spans = 0  # what the re-decoding costs: the spans it decodes for these names (cached after the first run)
    for row in videos.values():
        timed = classifier.store.timed_text(row.video_id, "conversation", classifier._key("conversation"))
        spans += sum(len(redecode.candidates(timed.items, c["prompts"][0])) for c in names.values()) if timed else 0
    result["redecoded_spans"] = spans
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
