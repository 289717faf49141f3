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
    return {"name": name, "value": round(float(value), 4), "unit": unit, "target": None, "op": None,
            "pass": None, "note": note}


def bench_cluster(files: int = 4, seconds: float = 15.0, reps: int = 2,
                  log=lambda m: print(m, file=sys.stderr)) -> list[dict]:
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
    rows = []
    indexer = Edge(settings).indexer(store=Store(tmp / "local.sqlite"))
    t = time.perf_counter()
    indexer.index([folder])
    local = files / (time.perf_counter() - t)
    log(f"local Indexer: {local:.3f} files/s")
    rows.append(_row("cluster: local Indexer, same files: files/s", local, "f/s", f"{files} x {seconds:.0f} s 720p"))
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False,
             runtime_env={"env_vars": {"EDGE_CACHE_DIR": str(settings.cache_dir)}})
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
            rows.append(_row(f"cluster: {workers} Ray worker{'s' * (workers > 1)}: files/s", rate, "f/s",
                             f"{files} x {seconds:.0f} s 720p, best of {reps}: {files * seconds * rate:.1f} video-s/s"))
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
