"""The functional probe of a model file: its outputs on a fixed synthetic input against those of the vetted file.

The installer vets converted and derived files with it (edge.install). The run time asks it one more thing about
the CPU copies of the frame models (edge.install.quantize): do this CPU's integer kernels reproduce them? On x86
without VNNI (AVX2 only) onnxruntime's uint8 x int8 kernels can saturate their 16-bit sums, and the uint8 classifier
then gives other numbers than it was vetted and calibrated with (probe top class 109 instead of 91); there the
models as converted run instead, slower but right. The answer is kept per file, CPU and onnxruntime version.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
from pathlib import Path

import numpy as np

log = logging.getLogger("edge.models")

VETTED = "expect"  # outputs of the vetted file with onnxruntime's optimised (fused integer) kernels
# A CPU copy's probe also has {"reference": {"rtol", "atol", "expect"}}: its outputs with graph optimisations off
# (QDQ run as float arithmetic), which any CPU reproduces.
REFERENCE = "reference"


def _expected(probe: dict, which: str) -> tuple[dict, float, float]:
    spec = probe if which == VETTED else probe[REFERENCE]
    return spec["expect"], spec["rtol"], spec["atol"]


def probe_input(shape: list[int]) -> np.ndarray:
    """Deterministic uint8 image batch: (7*y + 13*x + 61*c) mod 256. No RNG, so identical everywhere."""
    _, h, w, c = shape
    y, x, ch = np.indices((h, w, c), dtype=np.int64)
    return ((7 * y + 13 * x + 61 * ch) % 256).astype(np.uint8)[None]


def probe_outputs(model: Path, probe: dict, which: str = VETTED) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if which == REFERENCE:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])
    image = probe_input(probe["shape"])
    if "scale" in probe:  # models that take normalised float input: x * scale + offset
        image = (image * probe["scale"] + probe["offset"]).astype(np.float32)
    names = list(_expected(probe, which)[0])
    return dict(zip(names, session.run(names, {probe["input"]: image})))


def probe_mismatch(model: Path, probe: dict, which: str = VETTED) -> str | None:
    """None when `model` gives the probe's `which` outputs (within its tolerances), else what differs."""
    try:
        outputs = probe_outputs(model, probe, which)
    except Exception as exc:  # an unloadable or wrongly shaped model is as bad as wrong numbers
        return f"failed its probe: {exc}"
    expected, rtol, atol = _expected(probe, which)
    for name, expect in expected.items():
        values = outputs[name].astype(np.float64).ravel()
        got = {"sum": values.sum(), **{i: values[int(i)] for i in expect["at"]}}
        want = {"sum": expect["sum"], **expect["at"]}
        for key, target in want.items():
            if not np.isclose(got[key], target, rtol=rtol, atol=atol):
                what = "sum" if key == "sum" else f"[{key}]"
                return f"output {name}{what} is {got[key]:.6g}, expected {target:.6g}"
    return None


def _cpu() -> str:
    """This CPU as its model name and feature flags (what picks onnxruntime's kernels)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        facts = [next((ln for ln in lines if ln.startswith(key)), "") for key in ("model name", "flags", "Features")]
    except OSError:
        facts = [platform.processor()]
    return platform.machine() + "-" + hashlib.sha256("\n".join(facts).encode()).hexdigest()[:12]


def runs_as_vetted(model: Path, probe: dict, cache_dir: Path) -> bool:
    """Whether this CPU reproduces `model`'s vetted outputs; probed once per file, CPU and onnxruntime version."""
    import onnxruntime as ort

    st = Path(model).stat()
    key = f"{model}:{st.st_size}:{st.st_mtime_ns}:{_cpu()}:{ort.__version__}"
    path = Path(cache_dir) / "cpu-kernels.json"
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if key not in known:
        problem = probe_mismatch(model, probe)
        if problem:
            log.warning("event=cpu_copy_unused file=%s reason=%r", model, f"this CPU's kernels give {problem}")
        known[key] = problem is None
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(known, indent=1))
        os.replace(tmp, path)
    return known[key]
