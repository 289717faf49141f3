"""Cluster indexing benchmark: files/s of `edge index --cluster` with 1 and 2 Ray workers on this machine.

    python scripts/bench_cluster.py [--files 4] [--seconds 15] [--reps 2]

A local Ray cluster is started in this process (ray.init, all of this machine's CPUs); `--files` distinct
720p H.264 videos of `--seconds` each are indexed (visual source) into a fresh store per run, after the
workers have loaded their models (1 and 2 alternated, best of --reps), and the same files by the local
Indexer for reference. Needs the
`cluster` extra. A table goes to stderr, JSON rows to stdout; it measures, it does not gate.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from make_sample import PHOTOS, write_video  # noqa: E402  (a script, not a package)


def _row(name, value, unit, note=""):
    return {
        "name": name,
        "value": round(float(value), 4),
        "unit": unit,
        "target": None,
        "op": None,
        "pass": None,
        "note": note,
    }


def scale_rows(folder: Path, settings, tmp: Path) -> list[dict]:
    """What docs/scale.md extrapolates from: result bytes per video-hour (the object-store traffic to the driver),
    the driver's store write per video-hour, the per-call cost of the stored-sources snapshot, sha256 speed."""
    import pickle

    import numpy as np

    from edge.appliance import Edge
    from edge.hashing import sha256_file
    from edge.indexer import Extraction, IndexReport, IndexWriter
    from edge.store import Store
    from edge.types import VISUAL, Segments

    clip = sorted(folder.glob("*.mp4"))[0]
    found = Edge(settings).extractor(progress=lambda m: None).extract(clip, lambda video_id: [VISUAL])
    per_hour = len(pickle.dumps(found)) / found.info.duration * 3600
    dim = next(iter(found.segments.values())).vectors.shape[1]
    rng = np.random.default_rng(0)
    n = 3600  # one hour at 1 sample/s
    starts = np.arange(n, dtype=np.float32)
    hour = Segments(starts, starts + 1, rng.standard_normal((n, dim)).astype(np.float16))
    writer = IndexWriter(Store(tmp / "writes.sqlite"), (VISUAL,), lambda source: "bench", lambda m: None)
    stat, writes = clip.stat(), 20
    t = time.perf_counter()
    for i in range(writes):
        extraction = Extraction(f"{i:024x}", found.info, [VISUAL], {(VISUAL, "bench"): hour}, {}, {}, 0.0)
        writer.write(tmp / f"v{i}.mp4", stat, extraction, IndexReport(), "-")
    write_ms = (time.perf_counter() - t) / writes * 1000
    snapshot = pickle.dumps(
        {(f"{i:024x}", source) for i in range(10_000) for source in ("visual", "text_in_video", "conversation")}
    )
    t = time.perf_counter()
    for _ in range(10):
        pickle.loads(snapshot)
    snapshot_ms = (time.perf_counter() - t) / 10 * 1000
    t = time.perf_counter()
    sha256_file(clip)
    hash_mb_s = clip.stat().st_size / (time.perf_counter() - t) / 1e6
    return [
        _row(
            "cluster: result bytes per video-hour (visual)",
            per_hour / 1e6,
            "MB",
            f"pickled Extraction, {dim}-d float16 at {settings.sample_fps:g} sample/s",
        ),
        _row(
            "cluster: driver store write per video-hour (visual)",
            write_ms,
            "ms",
            f"IndexWriter.write of a 3,600-segment extraction, SQLite WAL, mean of {writes}",
        ),
        _row(
            "cluster: stored-sources snapshot, 10,000 videos",
            snapshot_ms,
            "ms",
            f"unpickled per call; {len(snapshot) / 1e6:.2f} MB",
        ),
        _row("cluster: sha256 of a video file (page cache)", hash_mb_s, "MB/s", "one core"),
    ]


def bench_cluster(
    files: int = 4, seconds: float = 15.0, reps: int = 2, log=lambda m: print(m, file=sys.stderr)
) -> list[dict]:
    import ray

    from edge.appliance import Edge
    from edge.cluster import ClusterIndexer
    from edge.settings import load_settings
    from edge.store import Store
    from edge.types import VISUAL

    tmp = Path(tempfile.mkdtemp(prefix="edge-bench-cluster-"))
    settings = replace(load_settings(), sources=(VISUAL,))
    names = list(PHOTOS)
    folder = tmp / "videos"
    folder.mkdir()
    for i in range(files):  # distinct content: two photos each, in a different order per file
        spans = [(names[i % len(names)], seconds / 2), (names[(i + 3) % len(names)], seconds / 2)]
        write_video(folder / f"clip{i}.mp4", spans, size=(1280, 720), fps=25, seed=i)
    log(f"generated {files} videos of {seconds:.0f} s (720p) in {folder}")
    rows = scale_rows(folder, settings, tmp)
    indexer = Edge(settings).indexer(store=Store(tmp / "local.sqlite"))
    t = time.perf_counter()
    indexer.index([folder])
    local = files / (time.perf_counter() - t)
    log(f"local Indexer: {local:.3f} files/s")
    rows.append(_row("cluster: local Indexer, same files: files/s", local, "f/s", f"{files} x {seconds:.0f} s 720p"))
    ray.init(
        num_cpus=os.cpu_count(),
        include_dashboard=False,
        runtime_env={"env_vars": {"EDGE_CACHE_DIR": str(settings.cache_dir)}},
    )
    try:
        rates = {1: 0.0, 2: 0.0}
        for workers in [1, 2] * reps:  # alternated, best of each: the shared host's load drifts
            store = Store(tmp / f"cluster-{workers}-{time.monotonic_ns()}.sqlite")
            with ClusterIndexer(store, settings, workers=workers, progress=lambda m: None) as indexer:
                indexer.wait_ready(every=True)  # model loading is not timed
                t = time.perf_counter()
                report = indexer.index([folder])
                rate = files / (time.perf_counter() - t)
            assert len(report.indexed) == files, report
            rates[workers] = max(rates[workers], rate)
            log(f"{workers} Ray worker(s): {rate:.3f} files/s (loadavg {os.getloadavg()[0]:.1f})")
        for workers, rate in rates.items():
            rows.append(
                _row(
                    f"cluster: {workers} Ray worker{'s' * (workers > 1)}: files/s",
                    rate,
                    "f/s",
                    f"{files} x {seconds:.0f} s 720p, best of {reps}: {files * seconds * rate:.1f} video-s/s",
                )
            )
        rows.append(_row("cluster: 2 vs 1 Ray workers", rates[2] / rates[1], "x", f"on {os.cpu_count()} cores"))
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ.setdefault("EDGE_HOME", home)
        os.environ.setdefault("EDGE_CACHE_DIR", str(Path(home) / "cache"))
        rows = bench_cluster(args.files, args.seconds, args.reps)
    for r in rows:
        print(f"{r['name']:46} {r['value']:10.3f} {r['unit']:4}  ({r['note']})", file=sys.stderr)
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
