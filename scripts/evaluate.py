"""`make eval`: build the development set, index one part and classify it through the CLI, print the figures.

    python scripts/evaluate.py                 # the report part (the numbers to quote)
    python scripts/evaluate.py --part fit      # the fit part: IN-SAMPLE, for tuning only

Indexing uses `edge index` and classification `edge classify --request` (then `edge page`), exactly as an
operator would, with EDGE_HOME pointing at a store kept per part under build/eval/ (indexing is idempotent, so
a second run only classifies). Definitions: shared/evaluation.md (scripts/eval_metrics.py). JSON results on
stdout (and in build/eval/PART/results.json); with --table a readable table instead.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import devset  # noqa: E402
import eval_metrics as em  # noqa: E402

SOURCES = ("visual", "conversation", "text_in_video")
RUNS = {
    "run1": {"min_video_score": 75, "min_clip_score": 30, "min_duration_ratio": 0.05},
    "defaults": {"min_video_score": 75, "min_clip_score": 30, "min_duration_ratio": 0.5},
    "run2": {"min_video_score": 1, "min_clip_score": 1, "min_duration_ratio": 0.01},
}


def edge(args: list[str], env: dict, stdin: str | None = None, ok=(0,)) -> dict:
    exe = Path(sys.executable).with_name("edge")
    done = subprocess.run([str(exe), *args], input=stdin, capture_output=True, text=True, env=env)
    if done.returncode not in ok:
        raise RuntimeError(f"edge {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def classify(body: dict, env: dict) -> list[dict]:
    """Every page of one request's result set."""
    page = edge(["classify", "--request", "-"], env, json.dumps(body))
    data = list(page["data"])
    while page["page_info"]["next_page_token"]:
        page = edge(["page", page["page_info"]["next_page_token"]], env)
        data += page["data"]
    return data


def responses_for(source: str, classes: dict, ids: dict[str, str], thresholds: dict, env: dict) -> dict:
    """{file: {class: {score, clips}}} for one source and one set of thresholds (semantic and exact requests)."""
    by_id = {i: f for f, i in ids.items()}
    out: dict[str, dict] = {}
    for exact in (False, True):
        chosen = [{"name": n, "prompts": c["prompts"]} for n, c in classes.items() if bool(c.get("exact")) == exact]
        if not chosen or (exact and source == "visual"):
            continue
        body = {
            "video_ids": sorted(ids.values()),
            "options": [source],
            "classes": chosen,
            "conversation_option": "exact_match" if exact else "semantic",
            "include_clips": True,
            "page_limit": 50,
            "threshold": thresholds,
        }
        for video in classify(body, env):
            for c in video["classes"]:
                out.setdefault(by_id[video["video_id"]], {})[c["name"]] = {"score": c["score"], "clips": c["clips"]}
    return out


def evaluate(
    out: Path, part: str, work: Path, cache: Path, limit: int | None = None, sources: tuple[str, ...] = SOURCES
) -> dict:
    truth = devset.build(out, cache, limit, parts=devset.PARTS)
    videos = [v for v in truth["videos"] if v["part"] == part]
    home = work / part
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "EDGE_HOME": str(home / "home"),
        "EDGE_CACHE_DIR": str(home / "cache"),
        "EDGE_SOURCES": ",".join(sources),
    }
    print(f"event=index part={part} videos={len(videos)}", file=sys.stderr)
    indexed = edge(["index", str((out / part).resolve()), "--name", f"devset-{part}"], env, ok=(0, 1))
    listed = edge(["videos"], env)
    root = (out / part).resolve()
    ids = {
        str(Path(v["path"]).resolve().relative_to(root.parent)): v["video_id"]
        for v in listed["videos"]
        if Path(v["path"]).resolve().is_relative_to(root)
    }
    evidence = {v["video_id"]: v["evidence"] for v in listed["videos"]}
    failed = {
        str(Path(f["path"]).resolve().relative_to(root.parent))
        for f in listed["failed"]
        if Path(f["path"]).resolve().is_relative_to(root)
    }
    expectations = []
    for v in videos:
        if v.get("expect") == "error":
            expectations.append({"file": v["file"], "expect": "error", "ok": v["file"] in failed})
        elif v.get("expect") == "error_or_partial":
            expectations.append(
                {
                    "file": v["file"],
                    "expect": "error_or_partial",
                    "refused": v["file"] in failed,
                    "ok": v["file"] in failed or v["file"] in ids,
                }
            )
    figures = {}
    for source in sources:
        present = {s["label"] for v in videos for s in v["segments"] if s["source"] == source}
        classes = {n: c for n, c in truth["classes"][part][source].items() if n in present}
        # A file whose source failed (a broken audio track indexed for conversation alone) has no evidence of it:
        # the API would refuse the whole request, so it is left out, as a refused file is.
        with_source = {f: i for f, i in ids.items() if source in evidence[i]}
        runs = {name: responses_for(source, classes, with_source, th, env) for name, th in RUNS.items()}
        print(f"event=classified part={part} source={source} classes={len(classes)}", file=sys.stderr)
        figures[source] = em.source_figures(
            videos, source, sorted(classes), runs["run1"], runs["defaults"], runs["run2"]
        )
    words = {}
    for v in videos:
        if "conversation" not in sources:
            break
        if Path(v["file"]).stem in ("music_only", "music_only2", "tones_only", "noise_only") and v["file"] in ids:
            said = edge(["transcript", ids[v["file"]]], env)
            words[v["file"]] = len(said["words"])
    result = {
        "part": part,
        "in_sample": part == "fit",
        "videos": len(videos),
        "minutes": round(sum(v["duration"] for v in videos) / 60, 1),
        "indexed": len(indexed["indexed"]),
        "failed": sorted(failed),
        "expectations": expectations,
        "words_from_non_speech": words,
        "sources": figures,
    }
    (home / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def table(result: dict) -> str:
    head = "IN-SAMPLE (fit part: tuning only)" if result["in_sample"] else "report part (held out from every fit)"
    lines = [
        f"# development set, {head}: {result['videos']} videos, {result['minutes']} min",
        "",
        "| source | P / R / F1 (75, 30, ratio 0.05) | P / R / F1 (defaults, ratio 0.5) | AP | segments found "
        "| edge error start / end (s) | clips off truth |",
        "|---|---|---|---|---|---|---|",
    ]
    for source, f in result["sources"].items():
        r1, d, s = f["run1"], f["defaults"], f["segments"]
        lines.append(
            f"| {source} | {r1['precision']:.2f} / {r1['recall']:.2f} / {r1['f1']:.2f} | "
            f"{d['precision']:.2f} / {d['recall']:.2f} / {d['f1']:.2f} | {f['ap']:.2f} | "
            f"{s['found']} of {s['segments']} | {s['start_error_s']} / {s['end_error_s']} | "
            f"{s['clips_off_truth']} of {s['clips']} |"
        )
    lines += [
        "",
        "Reliability (run 2: every threshold at its minimum): fraction of (video, class) pairs right, "
        "pairs in brackets; ! = outside its range by more than 10 points",
        "",
        "| source | " + " | ".join(f"{lo}-{min(hi, 100):g}" for lo, hi in em.BINS) + " |",
        "|---|" + "---|" * len(em.BINS),
    ]
    for source, f in result["sources"].items():
        cells = [
            ("-" if r["right"] is None else f"{100 * r['right']:.0f}%")
            + f" ({r['pairs']})"
            + ("" if r["calibrated"] is not False else " !")
            for r in f["reliability"]
        ]
        lines.append(f"| {source} | " + " | ".join(cells) + " |")
    lines += ["", "Per class (run 1): F1 (TP / FP / FN), ground-truth segments found", ""]
    for source, f in result["sources"].items():
        cells = [
            f"{c} {x['f1']:.2f} ({x['tp']}/{x['fp']}/{x['fn']}, {x['found']} found)"
            for c, x in f.get("per_class", {}).items()
        ]
        lines.append(f"- {source}: " + "; ".join(cells))
    lines += [
        "",
        f"files to refuse / truncated: {json.dumps(result['expectations'])}",
        f"words transcribed from music, tones, noise alone: {json.dumps(result['words_from_non_speech'])}",
    ]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=devset.PARTS, default="report")
    ap.add_argument("--devset", type=Path, default=Path("build/devset"))
    ap.add_argument("--work", type=Path, default=Path("build/eval"), help="stores kept per part")
    ap.add_argument("--cache", type=Path, default=Path("build/devset/cache"), help="downloaded packages")
    ap.add_argument("--limit", type=int, help="only the first N videos of each part (a quick check of the tooling)")
    ap.add_argument("--table", action="store_true", help="print a table instead of JSON")
    ap.add_argument(
        "--sources", nargs="+", choices=SOURCES, default=SOURCES, help="index and score only these (a quicker check)"
    )
    args = ap.parse_args(argv)
    result = evaluate(args.devset, args.part, args.work, args.cache, args.limit, tuple(args.sources))
    print(table(result) if args.table else json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
