"""GPU check: the providers each model really got, decode and model frames/s, and visual indexing for 1, 4 and
16 parallel 720p streams, on the GPU beside the same machine's CPU, as ratios from one run.

    python scripts/gpu_check.py [--seconds 60] [--streams 1,4,16] [--out gpu_check.json]

Normally started by scripts/gpu_check.sh on the GPU machine. It runs anywhere: where NVDEC or the GPU
providers cannot load, the GPU column says why in one line and the CPU column is still measured (a rehearsal
here: --seconds 8 --streams 1,2). Visual indexing is the shipped default's: action windows on unless
EDGE_ACTION_EVERY=0. Progress on stderr, the table on stdout, JSON to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
T0 = time.perf_counter()


MODELS = ("image-efficientnet-lite3", "detect-ssd-mobilenet-v2", "text-bge-small-en", "action-i3d-kinetics400")


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def timed(fn, reps: int = 3) -> float:
    """Best of `reps` wall seconds (the first call warms up: engine builds, CUDA context, caches)."""
    fn()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def torch_facts() -> dict:
    try:
        import torch
    except ImportError:
        return {"torch": None}
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"torch": torch.__version__, "gpu": gpu}


def sides(settings):
    """{side: (encoder, decoder, providers, note)} for "gpu" (when it loads) and "cpu"."""
    from edge.appliance import Edge
    from edge.decode import CpuDecoder, DecoderUnavailable, choose_decoder
    from edge.runtime import choose_providers, opened_providers

    out = {}
    for side in ("gpu", "cpu"):
        note = ""
        before = opened_providers()  # the record is per process: the cpu side lists only what it opened anew
        if side == "gpu":
            gpu_providers = [p for p in choose_providers() if p != "CPUExecutionProvider"]
            if not gpu_providers:
                out[side] = (None, None, {}, "onnxruntime has no GPU provider here")
                log(f"gpu: {out[side][3]}")
                continue
            try:
                decoder = choose_decoder("nvdec", settings.gpu_device)
            except DecoderUnavailable as exc:
                decoder, note = CpuDecoder(), f"decode on CPU: {exc}"
            edge = Edge(settings)
        else:
            decoder, edge = CpuDecoder(), Edge(replace(settings, provider="cpu"))
        encoder = edge.bundle.image_encoder
        encoder.encode([np.zeros((64, 64, 3), np.uint8)])  # its sessions open on first use
        if encoder.actions:
            _ = encoder.actions.batch  # opens the action model's session
        got = {k: v for k, v in opened_providers().items() if k.split("/")[0] in MODELS and before.get(k) != v}
        if side == "gpu" and all(v[0] == "CPUExecutionProvider" for v in got.values()):
            # nothing to measure beside the CPU column: the time goes to it
            note = "; ".join(filter(None, [note, "every GPU provider fell back to CPU (see event=provider_fallback)"]))
            encoder = None
        out[side] = (encoder, decoder, got, note)
        log(f"{side}: decoder={decoder.name} providers={got} {note}")
    return out


def device_frames(frames, decoder):
    """The frames as that side's decoder hands them over (GPU memory for NVDEC)."""
    if decoder.name != "nvdec":
        return frames
    import torch

    from edge.nvdec import DeviceFrame

    return [DeviceFrame(torch.from_numpy(f).cuda()) for f in frames]


def model_rates(encoder, frames) -> dict:
    """frames/s of each model alone (as edge.conse feeds it) and of the whole encoder (both + ConSE mix)."""
    from edge.conse import _CLASSIFIER_SIZE, _DETECTOR_SIZE

    n = len(frames)
    on_device = not isinstance(frames[0], np.ndarray)
    if on_device:
        from edge.runtime import run_on_device

        small = [f.resized(_CLASSIFIER_SIZE, _CLASSIFIER_SIZE)[None] for f in frames]
        import torch

        batch = torch.stack([f.resized(_DETECTOR_SIZE, _DETECTOR_SIZE) for f in frames]).float() / 127.5 - 1.0
        classify = lambda: [run_on_device(encoder._classifier, {"images": s}) for s in small]  # noqa: E731
        detect = lambda: run_on_device(encoder._detector, {"Preprocessor/sub:0": batch})  # noqa: E731
    else:
        import cv2

        small = [cv2.resize(f, (_CLASSIFIER_SIZE,) * 2, interpolation=cv2.INTER_AREA)[None] for f in frames]
        batch = np.stack([cv2.resize(f, (_DETECTOR_SIZE,) * 2, interpolation=cv2.INTER_AREA) for f in frames])
        batch = batch.astype(np.float32) / 127.5 - 1.0
        classify = lambda: [encoder._classifier.run(None, {"images": s}) for s in small]  # noqa: E731
        detect = lambda: encoder._detector.run(None, {"Preprocessor/sub:0": batch})  # noqa: E731
    rates = {
        "classifier fps": n / timed(classify),
        "detector fps": n / timed(detect),
        "encoder fps": n / timed(lambda: encoder.encode(frames)),
    }
    if encoder.actions:  # windows of 16 crops, as many a run as the indexer batches there (1 CPU, 8 GPU)
        from edge.actions import WINDOW_FRAMES, crop

        host = [np.asarray(f) for f in frames]
        window = np.stack([crop(host[i % n]) for i in range(WINDOW_FRAMES)])
        windows = np.stack([window] * encoder.actions.batch)
        rates["action windows/s"] = len(windows) / timed(lambda: encoder.actions.probabilities(windows), reps=2)
    return rates


def decode_rates(decoder, path: Path, duration: float) -> dict:
    every = timed(lambda: sum(1 for _ in decoder.samples(path, 25.0)), reps=1)
    sampled = timed(lambda: sum(1 for _ in decoder.samples(path, 1.0)), reps=2)
    return {"decode every frame fps": duration * 25 / every, "decode 1/s x realtime": duration / sampled}


def index_streams(encoder, decoder, path: Path, duration: float, n: int) -> float:
    """Aggregate x realtime of n videos indexed at once (visual), one thread each, sharing the models."""
    from edge.decode import probe
    from edge.sampling import VisualSampler, scan_samples

    info = probe(path)
    errors: list[BaseException] = []

    def one():
        try:
            sampler = VisualSampler(encoder)
            dense = (sampler.bursts, [sampler.feed_dense]) if sampler.actions else None  # as edge.indexer does
            sampler.segments(*scan_samples(path, info, 1.0, [sampler.feed], nice=0, dense=dense, decoder=decoder))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(n)]
    t = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return n * duration / (time.perf_counter() - t)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--streams", default="1,4,16")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    import onnxruntime as ort
    from make_sample import PHOTOS, write_video

    from edge.decode import CpuDecoder
    from edge.settings import load_settings

    facts = {
        "onnxruntime": ort.__version__,
        "available_providers": ort.get_available_providers(),
        "cpu_cores": os.cpu_count(),
        "action_every_s": load_settings().action_every_s,
        **torch_facts(),
    }
    tmp = Path(tempfile.mkdtemp(prefix="edge-gpu-check-"))
    video = tmp / "720p.mp4"
    write_video(video, [(name, args.seconds / len(PHOTOS)) for name in PHOTOS], size=(1280, 720), fps=25)
    log(f"generated {video} ({args.seconds:.0f} s 720p)")
    frames = [f for _, f in CpuDecoder().samples(video, 1.0)][:32]
    settings = load_settings()
    results: dict[str, dict] = {}

    def save(row: dict, measured: dict) -> None:
        """Each measurement as it comes, so a run cut short by its time limit still leaves what it measured."""
        row.update(measured)
        for key, value in measured.items():
            log(f"{side}: {key} = {value:.1f}")
        if args.out:
            args.out.write_text(json.dumps({"machine": facts, "results": results}, indent=2) + "\n")

    for side, (encoder, decoder, providers, note) in sides(settings).items():
        row = {"providers": providers, "decoder": decoder.name if decoder else None, "note": note}
        results[side] = row
        if encoder is None:
            save(row, {})
            continue
        save(row, decode_rates(decoder, video, args.seconds))
        save(row, model_rates(encoder, device_frames(frames, decoder)))
        for n in (int(s) for s in args.streams.split(",")):
            save(row, {f"index {n} streams x realtime": index_streams(encoder, decoder, video, args.seconds, n)})
    print_table(facts, results)


def print_table(facts: dict, results: dict) -> None:
    print("edge gpu check: " + ", ".join(f"{k}={v}" for k, v in facts.items()))
    for side, row in results.items():
        print(f"{side}: decoder={row['decoder']} providers={json.dumps(row['providers'])} {row['note']}")
    keys = [k for k in results.get("cpu", {}) if isinstance(results["cpu"][k], float)]
    print(f"{'measurement':32} {'gpu':>10} {'cpu':>10} {'gpu/cpu':>8}")
    for key in keys:
        gpu, cpu = results.get("gpu", {}).get(key), results["cpu"][key]
        shown = (f"{gpu:10.1f}", f"{gpu / cpu:8.1f}") if gpu else (f"{'-':>10}", f"{'-':>8}")
        print(f"{key:32} {shown[0]} {cpu:10.1f} {shown[1]}")


if __name__ == "__main__":
    main()
