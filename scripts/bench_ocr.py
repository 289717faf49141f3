"""OCR cost benchmark: CPU-seconds of on-screen text reading per second of a typical 720p video.

    python scripts/bench_ocr.py [--reps 3] [--threads 1] [--no-rapidocr]

The clip (scripts/text_video.py: 60 s, 1280x720, four photo scenes with Ken-Burns motion and grain,
subtitles changing every 2-3 s, a channel logo, lower thirds, drifting signs) is decoded at 1 fps
into memory first, so only OCR is timed: process CPU time (all threads) of feeding every sample to
a TextReader, with the change gate and without it (every sample detected and every line read), and
RapidOCR's own pipeline at its defaults for reference. Models come from EDGE_MODELS_DIR as
load_settings() sees it. A table goes to stderr, JSON rows to stdout; it measures, it does not gate.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from text_video import TYPICAL_SCENES, typical_items, write_text_video  # noqa: E402  (a script, not a package)

from edge.decode import sample_frames  # noqa: E402
from edge.ocr import OcrEngine, TextReader  # noqa: E402
from edge.text_track import similarity  # noqa: E402

SECONDS = 60.0
TARGET_CPU_PER_S = 0.15


def _row(name, value, unit, target=None, op="<=", note=""):
    ok = None if target is None else bool(value <= target if op == "<=" else value >= target)
    return {
        "name": name,
        "value": round(float(value), 4),
        "unit": unit,
        "target": target,
        "op": op if target is not None else None,
        "pass": ok,
        "note": note,
    }


def _recall(spans, truth, step=1.0) -> float:
    """Share of true texts read (similarity >= 0.9) with start and end within one sampling step."""
    hit = sum(
        any(
            similarity(s.text, tr["text"]) >= 0.9
            and abs(s.start - tr["start"]) <= step
            and abs(s.end - tr["end"]) <= step
            for s in spans
        )
        for tr in truth
    )
    return hit / len(truth)


def _read(engine, frames, gate: bool):
    reader = TextReader(engine, 1.0, gate=gate)
    cpu = time.process_time()
    for t, frame in frames:
        reader.feed(t, frame)
    spans = reader.finish(SECONDS)
    return time.process_time() - cpu, spans, reader.stats


def _rapidocr_cpu(models_dir: Path, frames, threads: int) -> float:
    """RapidOCR as documented (det at its 736 px, direction classifier, every line read), pinned paths."""
    from rapidocr import RapidOCR

    from edge.modelfiles import model_path

    paths = {k: str(model_path(models_dir, "ocr-ppocrv6", f"{k.lower()}.onnx")) for k in ("Det", "Rec", "Cls")}
    eng = RapidOCR(
        params={
            **{f"{k}.model_path": v for k, v in paths.items()},
            "Global.log_level": "warning",
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
        }
    )
    eng(cv2.cvtColor(frames[0][1], cv2.COLOR_RGB2BGR))  # load the models outside the timing
    cpu = time.process_time()
    for _, frame in frames:
        eng(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return time.process_time() - cpu


def bench_ocr(models_dir, reps: int = 3, threads: int = 1, rapidocr: bool = True, log=lambda m: None) -> list[dict]:
    engine = OcrEngine.from_store(Path(models_dir), threads=threads, rgb=True)
    with tempfile.TemporaryDirectory(prefix="bench-ocr-") as tmp:
        path = Path(tmp) / "typical.mp4"
        truth = write_text_video(path, TYPICAL_SCENES, typical_items(SECONDS), fps=10)
        frames = list(sample_frames(path, 1.0))
    log(f"{len(frames)} samples of a {SECONDS:.0f} s 720p clip with {len(truth)} timed texts")
    _read(engine, frames[:3], gate=False)  # warm the sessions up
    runs = {"gated": [], "every_sample": []}
    for rep in range(reps):
        for mode in runs:
            cpu, spans, stats = _read(engine, frames, gate=mode == "gated")
            runs[mode].append((cpu / SECONDS, _recall(spans, truth), stats))
            log(
                f"rep {rep + 1} {mode}: {cpu / SECONDS:.3f} CPU-s per video-s, recall {runs[mode][-1][1]:.2f}, "
                f"{stats['ocr_samples']} of {stats['samples']} samples detected ({stats['band_det']} in bands), "
                f"{stats['recognised']} lines read"
            )

    def span(vals):
        return f"median of {len(vals)}; range {min(vals):.3f}-{max(vals):.3f}"

    gated, every = [r[0] for r in runs["gated"]], [r[0] for r in runs["every_sample"]]
    g_stats, e_stats = runs["gated"][-1][2], runs["every_sample"][-1][2]
    rows = [
        _row("ocr_cpu_per_video_s_gated", statistics.median(gated), "CPU-s/s", TARGET_CPU_PER_S, note=span(gated)),
        _row("ocr_cpu_per_video_s_every_sample", statistics.median(every), "CPU-s/s", note=span(every)),
        _row(
            "ocr_gating_saving",
            statistics.median(every) / statistics.median(gated),
            "x",
            note="every-sample / gated CPU, same engine and detection size",
        ),
        _row(
            "ocr_samples_detected_gated",
            g_stats["ocr_samples"] / g_stats["samples"],
            "fraction",
            note=f"{g_stats['ocr_samples']} of {g_stats['samples']} ({g_stats['band_det']} in bands only); "
            f"lines read {g_stats['recognised']}, reused {g_stats['reused']}",
        ),
        _row(
            "ocr_text_recall_gated",
            min(r[1] for r in runs["gated"]),
            "fraction",
            1.0,
            ">=",
            note="true texts read with start/end within one sampling step",
        ),
        _row("ocr_text_recall_every_sample", min(r[1] for r in runs["every_sample"]), "fraction"),
    ]
    # Per-call costs at 720p, one session each: detection at det_side, recognition per line read.
    cpu = time.process_time()
    for _, frame in frames[:20]:
        engine.detect(frame)
    rows.append(
        _row(
            "ocr_det_ms_720p",
            1000 * (time.process_time() - cpu) / 20,
            "CPU-ms/call",
            note=f"whole frame at det_side {engine.det_side}, {threads} thread(s)",
        )
    )
    cpu = time.process_time()
    for _, frame in frames[:20]:
        engine.detect(frame, (500, 692))
    rows.append(
        _row(
            "ocr_det_band_ms_720p",
            1000 * (time.process_time() - cpu) / 20,
            "CPU-ms/call",
            note="a 192-row band (a subtitle line with context), as the gate asks for",
        )
    )
    rows.append(
        _row(
            "ocr_rec_ms_per_line",
            1000 * e_stats["rec_s"] / max(e_stats["recognised"], 1),
            "ms/line",
            note="wall time in the every-sample run, lines of 7-32 characters",
        )
    )
    if rapidocr:
        raw = _rapidocr_cpu(Path(models_dir), frames, threads) / SECONDS
        log(f"RapidOCR defaults: {raw:.3f} CPU-s per video-s")
        rows.append(
            _row(
                "ocr_cpu_per_video_s_rapidocr_default",
                raw,
                "CPU-s/s",
                note="RapidOCR() on every sample: det at 736 px min side, cls, rec",
            )
        )
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads per session")
    ap.add_argument("--no-rapidocr", action="store_true", help="skip the RapidOCR-defaults reference run")
    args = ap.parse_args(argv)
    from edge.settings import load_settings

    t0 = time.perf_counter()
    rows = bench_ocr(
        load_settings().models_dir,
        args.reps,
        args.threads,
        not args.no_rapidocr,
        log=lambda m: print(f"[{time.perf_counter() - t0:6.1f}s] {m}", file=sys.stderr, flush=True),
    )
    for r in rows:
        target = f"{r['op']} {r['target']:g}" if r["target"] is not None else "-"
        verdict = "" if r["pass"] is None else "PASS" if r["pass"] else "MISS"
        print(
            f"{r['name']:40s} {r['value']:>9.4g} {r['unit']:12s} {target:>8s} {verdict:4s} {r['note']}", file=sys.stderr
        )
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
