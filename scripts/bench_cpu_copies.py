"""Per-call time of each frame model file on this CPU (one thread, the probe input) and whether it gives its
vetted outputs here: the models as converted, the CPU copies and their uint8-weight twins (edge.install.quantize).

    python scripts/bench_cpu_copies.py [--calls 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import onnxruntime as ort

from edge.bundles import CLASSIFIER, CLASSIFIER_COPIES, DETECTOR, DETECTOR_COPIES
from edge.modelfiles import file_entry, model_path
from edge.probe import probe_input, probe_mismatch
from edge.settings import load_settings


def per_call_ms(path, probe: dict, calls: int) -> float:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.log_severity_level = 1, 3
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    image = probe_input(probe["shape"])
    if "scale" in probe:
        image = (image * probe["scale"] + probe["offset"]).astype(np.float32)
    feed = {probe["input"]: image}
    for _ in range(3):
        session.run(None, feed)
    start = time.perf_counter()
    for _ in range(calls):
        session.run(None, feed)
    return (time.perf_counter() - start) / calls * 1000


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20)
    args = ap.parse_args(argv)
    store = load_settings().models_dir
    print("| file | ms per call | vetted outputs here |\n|---|---|---|")
    for model, copies in [(CLASSIFIER, CLASSIFIER_COPIES), (DETECTOR, DETECTOR_COPIES)]:
        for name in ("model.onnx", *copies):
            entry = file_entry(model, name)
            probe = (entry.get("conversion") or entry["derive"])["probe"]
            path = model_path(store, model, name)
            problem = probe_mismatch(path, probe)
            print(f"| {model}/{name} | {per_call_ms(path, probe, args.calls):.1f} | {problem or 'yes'} |")


if __name__ == "__main__":
    main()
