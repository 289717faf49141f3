"""Performance benchmark for edge: decode steps, visual indexing, peak memory, classify latency, OCR cost,
speech real-time factor, all sources over a realistic mix and a 10-hour file, with targets.

    python scripts/bench.py [--seconds 60] [--reps 15] [--keep] [--long-hours 10] [--no-mix]

Everything runs in a temporary EDGE_HOME (and cache), so the operator's store is never touched; models come
from EDGE_MODELS_DIR as load_settings() sees it. Progress and a table go to stderr, one JSON object to stdout.
It exits 0 even when targets are missed: it measures, it does not gate.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from edge.appliance import Edge
from edge.classify import Classifier
from edge.contract import parse_request
from edge.decode import probe, sample_frames
from edge.settings import load_settings  # reads the environment when called, so main() can set EDGE_HOME first
from edge.store import Store
from edge.types import VISUAL, Segments, VideoInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from make_sample import PHOTOS, write_static, write_video  # noqa: E402  (a script, not a package)

T0 = time.perf_counter()
CACHE = ROOT / "build" / "bench-cache"  # media built once and kept (the long file, the mix)
ROWS: list[dict] = []


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def row(name: str, value: float, unit: str, target: float | None = None, op: str = ">=", note: str = "") -> None:
    """One measurement; with a target it gets ratio = value/target and pass/fail (op says which side passes)."""
    ok = None if target is None else bool(value >= target if op == ">=" else value <= target)
    ROWS.append(
        {
            "name": name,
            "value": round(float(value), 3),
            "unit": unit,
            "target": target,
            "op": op if target is not None else None,
            "ratio": round(float(value / target), 2) if target else None,
            "pass": ok,
            "note": note,
        }
    )


def missed() -> list[str]:
    return [
        r["name"] + (" (implied target)" if r["note"].startswith("implied") else "") for r in ROWS if r["pass"] is False
    ]


def machine_facts() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": cpu,
        "python": sys.version.split()[0],
        "onnxruntime": ort.__version__,
        "ort_available_providers": ort.get_available_providers(),
        "opencv": cv2.__version__,
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }


def make_videos(tmp: Path, seconds: float) -> dict[str, Path]:
    """~seconds of 25 fps H.264 at 720p and 1080p, every bundled photo as a span (hard cuts between)."""
    spans = [(name, seconds / len(PHOTOS)) for name in PHOTOS]
    out = {}
    for label, size in (("720p", (1280, 720)), ("1080p", (1920, 1080))):
        t = time.perf_counter()
        out[label] = tmp / f"bench-{label}.mp4"
        write_video(out[label], spans, size=size, fps=25)
        log(f"generated {out[label].name} ({size[0]}x{size[1]}, {seconds:.0f} s) in {time.perf_counter() - t:.1f} s")
    # A fixed camera (MPEG-4 part 2): shows what the change gate saves on archive footage.
    out["720p fixed camera"] = tmp / "bench-static.mp4"
    write_static(out["720p fixed camera"], seconds=int(seconds), size=(1280, 720), fps=25, object_from=seconds / 2)
    return out


def bench_decode(videos, tmp: Path, settings) -> None:
    """Each decode step side by side (scripts/bench_decode.py), on the bench footage and two other encodings."""
    from bench_decode import bench_decode_steps, write_camera_variants

    decode_videos = {k: videos[k] for k in ("720p", "1080p")} | write_camera_variants(tmp, 60.0, log)
    bench_decode_steps(decode_videos, lambda p: probe(p).duration, row, log)
    adopted = next(r for r in ROWS if r["name"] == "decode 720p, PyAV planned, 1 thread (adopted): x-realtime")
    # Indexing can never beat decoding, so the 15x indexing target implies 15x decode at 720p.
    row("decode 720p as indexing does: x-realtime", adopted["value"], "x", 15.0, note="implied by the indexing target")


def bench_thumbnails(videos) -> None:
    """A clip thumbnail made on demand (edge serve, first request): seek, decode to the frame, scale, JPEG."""
    from edge.thumbnails import frame_jpeg

    for label in ("720p", "1080p"):
        duration = probe(videos[label]).duration
        moments = [duration * (i + 0.5) / 10 for i in range(10)]
        times = _times(lambda: [frame_jpeg(videos[label], t) for t in moments], 1) / len(moments)
        row(
            f"thumbnail on demand, {label}: per picture",
            float(times[0]),
            "ms",
            note=f"{len(frame_jpeg(videos[label], moments[0])) / 1024:.0f} KiB JPEG",
        )


def bench_encoder(bundle, video: Path, settings) -> None:
    frames = [f for _, f in islice(sample_frames(video, settings.sample_fps), 32)]
    bundle.image_encoder.encode(frames[:8])  # warm-up: opens the ONNX sessions (they open lazily)
    t = time.perf_counter()
    for i in range(0, len(frames), 8):
        bundle.image_encoder.encode(frames[i : i + 8])
    fps = len(frames) / (time.perf_counter() - t)
    log(f"image encoder alone: {fps:.1f} frames/s on {len(frames)} 720p frames")
    row(
        "image encoder alone (batch 8): frames/s",
        fps,
        "fps",
        10.0 * settings.sample_fps,
        note="implied: 10x realtime at the sample rate",
    )


def bench_index(videos, edge: Edge, settings) -> None:
    lines: list[str] = []

    def progress(message: str) -> None:
        lines.append(message)
        log("  " + message)

    indexer = edge.indexer(sources=(VISUAL,), progress=progress)
    for label, path in videos.items():
        lines.clear()
        duration = probe(path).duration
        t = time.perf_counter()
        report = indexer.index([path])
        dt = time.perf_counter() - t
        if report.failed:
            raise RuntimeError(f"indexing {path} failed: {report.failed}")
        encoded = re.search(r"encoded=(\d+)", " ".join(lines)).group(1) if lines else "?"
        row(
            f"index {label} end to end: x-realtime",
            duration / dt,
            "x",
            15.0 if label == "720p" else None,
            note=f"{duration:.0f} s video in {dt:.1f} s, {encoded} samples encoded",
        )


def bench_whole_frames(video: Path, settings) -> None:
    """The 720p video again with EDGE_FRAME_VIEWS=off (each frame classified whole only): what the views cost."""
    edge = Edge(dataclasses.replace(settings, frame_views=False))
    indexer = edge.indexer(sources=(VISUAL,), progress=lambda message: None)
    duration = probe(video).duration
    t = time.perf_counter()
    report = indexer.index([video])  # the views-off key lacks this video's visual segments: indexed anew
    dt = time.perf_counter() - t
    if report.failed:
        raise RuntimeError(f"indexing {video} failed: {report.failed}")
    row("index 720p end to end, EDGE_FRAME_VIEWS=off: x-realtime", duration / dt, "x", note=f"{dt:.1f} s")


def bench_peak_rss(video: Path, tmp: Path, settings) -> None:
    """`edge index` in a fresh process (and store): its peak RSS is what an operator's machine must hold."""
    env = dict(os.environ, EDGE_HOME=str(tmp / "rss-home"), EDGE_CACHE_DIR=str(settings.cache_dir))
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "edge", "index", str(video)], env=env, cwd=ROOT, capture_output=True, text=True
    )
    dt = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"edge index exited {proc.returncode}: {proc.stderr[-2000:]}")
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    log(f"edge index subprocess: {dt:.1f} s, peak RSS {peak_mib:.0f} MiB")
    row(
        "index 720p subprocess: peak RSS",
        peak_mib,
        "MiB",
        1536.0,
        "<=",
        note="1.5 GiB; all three sources, their models loaded",
    )
    row("index 720p subprocess: wall incl. startup", dt, "s", note="process start + model load + index")


# word pairs that make every variant's prompts new to the prompt cache (8 x 8 = 64 variants)
SIZES = ["", "small ", "large ", "tiny ", "huge ", "old ", "new ", "famous "]
COLOURS = ["", "red ", "blue ", "green ", "white ", "black ", "yellow ", "wooden "]


def _request(video_ids: list[str], variant: int = 0):
    """100 prompts; each variant words them differently, so its prompts are new to the prompt cache."""
    nouns = {
        "animals": "cat dog horse bird cow",
        "vehicles": "car motorcycle bus rocket boat",
        "food": "coffee pizza sandwich soup cake",
        "space": "galaxy star planet nebula telescope",
        "people": "astronaut photographer crowd child runner",
    }
    templates = ["a {}", "a close-up photo of a {}", "a {} in the distance", "someone filming a {} outdoors"]
    adjective = SIZES[variant // len(COLOURS) % len(SIZES)] + COLOURS[variant % len(COLOURS)]
    classes = [
        {"name": c, "prompts": [t.format(adjective + n) for n in ns.split() for t in templates]}
        for c, ns in nouns.items()
    ]  # 5 classes x 20 = 100 prompts, the request maximum
    # include_clips makes every matching video build its clip list: the heavier, conservative case.
    return parse_request({"video_ids": video_ids, "options": ["visual"], "classes": classes, "include_clips": True})


def _times(fn, reps: int) -> np.ndarray:
    fn()  # warm-up: first-touch SQLite pages, numpy/BLAS buffers
    out = np.empty(reps)
    for i in range(reps):
        t = time.perf_counter()
        fn()
        out[i] = (time.perf_counter() - t) * 1000
    return out


def bench_classify(bundle, tmp: Path, settings, reps: int) -> None:
    store = Store(tmp / "classify.sqlite")
    rng = np.random.default_rng(0)
    dim, n = bundle.image_encoder.dim, 3600  # 10 videos x 1 h at 1 segment/s = the 10 h request limit
    info = VideoInfo(duration=float(n), fps=25.0, width=1280, height=720, rotation=0, has_audio=False)
    ids = []
    t = time.perf_counter()
    for i in range(10):
        v = rng.standard_normal((n, dim)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        starts = np.arange(n, dtype=np.float32)
        vid = hashlib.sha256(f"bench-{i}".encode()).hexdigest()[:24]
        store.put_video(
            vid,
            f"bench-{i:02d}.mp4",
            info,
            {("visual", bundle.key): Segments(starts, starts + 1, v.astype(np.float16))},
        )
        ids.append(vid)
    log(f"inserted 10 x {n} segments (dim {dim}) in {time.perf_counter() - t:.1f} s")

    clf = Classifier(store, bundle, settings.page_ttl_s)
    req = _request(ids)
    embedded = clf.embed_prompts(req)

    def scoring_only():  # Classifier.classify minus embed_prompts
        return clf.rank(clf.resolve_videos(req), req, embedded)

    variants = iter(range(1, 10 * reps))
    results = {
        "load": _times(lambda: [store.segments(v, "visual", bundle.key) for v in ids], reps),
        "embed": _times(lambda: clf.embed_prompts(_request(ids, next(variants))), reps),
        "score": _times(scoring_only, reps),
        "full": _times(lambda: clf.classify(_request(ids, next(variants))), reps),
        "repeat": _times(lambda: clf.classify(req), reps),
    }
    total = clf.classify(req)["page_info"]["total_results"]
    log(f"classify: {total} of 10 videos in the result (random vectors rarely match)")
    p = {k: (np.percentile(v, 50), np.percentile(v, 95)) for k, v in results.items()}
    row("classify 10 h: SQLite load of segments p50", p["load"][0], "ms", note="part of the scoring time")
    row("classify 10 h: embed 100 new prompts p50", p["embed"][0], "ms")
    row("classify 10 h, after embedding: p50", p["score"][0], "ms", 50.0, "<=")
    row("classify 10 h, after embedding: p95", p["score"][1], "ms", note=f"{reps} reps")
    row("classify 10 h, full incl. embedding: p50", p["full"][0], "ms", 300.0, "<=", note="100 new prompts each time")
    row("classify 10 h, full incl. embedding: p95", p["full"][1], "ms", note=f"{reps} reps")
    row("classify 10 h, repeated request: p50", p["repeat"][0], "ms", note="prompt vectors cached")
    store.close()


def bench_http(settings, reps: int) -> None:
    """8 concurrent clients against a real `edge serve` on loopback, over the videos bench_index stored."""
    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "edge", "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                health = httpx.get(f"{base}/health", timeout=1).json()
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError("edge serve did not come up")
        store = Store(settings.db_path)
        ids = [v.video_id for v in store.videos()]
        store.close()
        body = {
            "video_ids": ids,
            "options": ["visual"],
            "include_clips": True,
            "classes": [
                {"name": "cat", "prompts": ["a cat", "kitten"]},
                {"name": "coffee", "prompts": ["a cup of coffee"]},
                {"name": "vehicle", "prompts": ["a motorcycle", "a rocket launch"]},
            ],
        }

        clients = threading.local()  # one keep-alive client per thread, as each SDK client holds one

        def one(_):
            if not hasattr(clients, "http"):
                clients.http = httpx.Client(timeout=60)
            t = time.perf_counter()
            reply = clients.http.post(f"{base}/v1.2/classify", json=body)
            reply.raise_for_status()
            return (time.perf_counter() - t) * 1000

        one(0)  # warm-up: prompt vectors, segment cache
        with ThreadPoolExecutor(8) as pool:
            latencies = np.array(list(pool.map(one, range(8 * reps))))
        log(f"http: {len(latencies)} classify requests from 8 clients over {health['videos']} videos")
        row(
            "http classify, 8 concurrent clients: p50",
            np.percentile(latencies, 50),
            "ms",
            100.0,
            "<=",
            note=f"{len(ids)} indexed videos, 5 prompts",
        )
        row("http classify, 8 concurrent clients: p95", np.percentile(latencies, 95), "ms")
    finally:
        server.terminate()
        server.wait(timeout=30)


def bench_exact(reps: int) -> None:
    """exact_match over 10 h of speech (90,000 words) and 3,000 on-screen spans, 100 prompts, as classify runs it."""
    from edge.scoring import ExactText

    rng = np.random.default_rng(0)
    vocab = [f"word{i}" for i in range(3000)] + ["the", "and", "weather", "forecast"]
    words = [
        {
            "start": i * 0.4,
            "end": i * 0.4 + 0.3,
            "text": str(rng.choice(vocab)) + str(rng.choice(["", ",", "."])),
            "p": 0.9,
        }
        for i in range(90_000)
    ]
    spans = [
        {"start": float(i), "end": i + 3.0, "text": " ".join(rng.choice(vocab, 4)), "confidence": 0.9}
        for i in range(3000)
    ]
    prompts = tuple(f"word{i} word{i + 1}" for i in range(99)) + ("the",)
    for label, items, option in (
        ("10 h of speech", words, "conversation"),
        ("3,000 text spans", spans, "text_in_video"),
    ):
        t = time.perf_counter()
        prepared = ExactText(items, option)
        row(
            f"exact match, {label}: first preparation",
            1000 * (time.perf_counter() - t),
            "ms",
            note="once per video, then kept",
        )
        row(
            f"exact match, {label}: 100 prompts p50",
            np.percentile(_times(lambda: prepared.clips(prompts), reps), 50),
            "ms",
        )


def bench_text_sources(video: Path, settings) -> None:
    """text_in_video (scripts/bench_ocr.py) and conversation (scripts/bench_speech.py) rows."""
    from bench_ocr import bench_ocr
    from bench_speech import bench_speech

    rows = bench_ocr(settings.models_dir, reps=3, log=log)  # with the RapidOCR-defaults reference row
    rows += bench_speech(settings.models_dir, visual_video=video, log=log)
    for r in rows:
        row(r["name"], r["value"], r["unit"], r.get("target"), r.get("op") or ">=", r.get("note", ""))


def bench_cluster_rows() -> None:
    """files/s of `edge index --cluster` with 1 and 2 Ray workers (scripts/bench_cluster.py)."""
    from bench_cluster import bench_cluster

    for r in bench_cluster(log=log):
        row(r["name"], r["value"], r["unit"], note=r["note"])


def bench_action_rows(settings) -> None:
    """Action windows (scripts/bench_actions.py): their CPU cost with and without the motion gate, and visual
    indexing with actions on real 720p footage."""
    from bench_actions import bench_actions

    for r in bench_actions(settings.models_dir, log=log):
        row(r["name"], r["value"], r["unit"], r.get("target"), r.get("op") or ">=", r.get("note", ""))


def print_table(facts: dict) -> None:
    err = sys.stderr
    print("\nedge benchmark\n  " + "\n  ".join(f"{k}: {v}" for k, v in facts.items()), file=err)
    print(f"{'measurement':46} {'value':>10} {'unit':4} {'target':>10} {'ratio':>6}  result", file=err)
    print("-" * 92, file=err)
    for r in ROWS:
        target = f"{r['op']} {r['target']:.3g}" if r["target"] is not None else "-"
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
        verdict = {True: "PASS", False: "MISSED", None: "info"}[r["pass"]]
        value = f"{r['value']:10.1f}" if abs(r["value"]) >= 10 else f"{r['value']:10.3f}"  # RTF, WER, CPU-s/s
        print(
            f"{r['name']:46} {value} {r['unit']:4} {target:>10} {ratio:>6}  {verdict}"
            + (f"  ({r['note']})" if r["note"] else ""),
            file=err,
        )
    print("-" * 92 + "\ntargets missed: " + ("; ".join(missed()) or "none"), file=err)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="length of each generated video")
    ap.add_argument("--reps", type=int, default=15, help="timed repetitions per classify measurement")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (printed)")
    ap.add_argument(
        "--long-hours",
        type=float,
        default=10.0,
        help="length of the long-file benchmark's video (built once, cached in build/bench-cache); 0 skips it",
    )
    ap.add_argument("--no-mix", action="store_true", help="skip the all-sources realistic mix")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="only decode, visual indexing, memory, classify and HTTP (no speech, OCR, cluster, action, mix, long file)",
    )
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="edge-bench-"))
    # Set before load_settings(): a temporary home and cache, so no run leaves anything in the operator's.
    os.environ["EDGE_HOME"] = str(tmp / "home")
    os.environ["EDGE_CACHE_DIR"] = str(tmp / "home" / "cache")
    settings = load_settings()
    facts = machine_facts()
    facts.update(
        sample_fps=settings.sample_fps, ort_threads=settings.threads or "auto", models_dir=str(settings.models_dir)
    )
    log(
        f"temp dir {tmp}{' (kept)' if args.keep else ''}; models from {settings.models_dir}; "
        f"loadavg {facts['loadavg_start']}"
    )
    try:
        videos = make_videos(tmp, args.seconds)
        bench_decode(videos, tmp, settings)
        bench_thumbnails(videos)
        t = time.perf_counter()
        edge = Edge(settings)
        bundle = edge.bundle
        row("bundle load (cold cache, label embeddings)", time.perf_counter() - t, "s")
        bench_encoder(bundle, videos["720p"], settings)
        enc = bundle.image_encoder  # which providers the sessions really got (private, hence getattr)
        facts["ort_providers_used"] = sorted(
            {p for s in ("_classifier", "_detector") for p in getattr(getattr(enc, s, None), "get_providers", list)()}
        )
        bench_index(videos, edge, settings)
        bench_whole_frames(videos["720p"], settings)
        bench_peak_rss(videos["720p"], tmp, settings)
        bench_classify(bundle, tmp, settings, args.reps)
        bench_http(settings, args.reps)
        bench_exact(args.reps)
        if not args.quick:
            bench_text_sources(videos["720p"], settings)
            bench_cluster_rows()
            bench_action_rows(settings)
            from bench_long import bench_long, bench_mix

            if not args.no_mix:
                bench_mix(CACHE, tmp, row, log)
            if args.long_hours > 0:
                bench_long(CACHE, tmp, args.long_hours, row, log)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    facts["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    facts["total_s"] = round(time.perf_counter() - T0, 1)
    print_table(facts)
    print(json.dumps({"machine": facts, "results": ROWS, "missed": missed()}, indent=2))


if __name__ == "__main__":
    main()
