"""Model conversion at install time, in a throwaway TOOLS venv, and the functional probe of its output.

TensorFlow and tf2onnx are never dependencies of `edge`: they live in a venv under the model cache, made
once from the manifest's pins and reused. tf2onnx output is not byte-reproducible (generated node and
initializer names, and node order, change from run to run; weights and results do not), so a converted
file cannot be pinned by sha256 in the manifest. Instead it must reproduce the outputs that the vetted
conversion gave on a fixed synthetic input (the manifest's `probe`), and its sha256 is pinned at install
time in the store's lock file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from edge.hashing import IntegrityError
from edge.probe import REFERENCE, VETTED, probe_mismatch

log = logging.getLogger("edge.models")

_MARKER = ".edge-tools.json"


class ConversionError(RuntimeError):
    """A model could not be converted (a tool failed, or its input is not the model it should be)."""


def _tools_python() -> str:
    """An interpreter of the Python version the tools pins were verified on (TF 2.15 has no 3.12 wheels)."""
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    found = shutil.which("python3.11")
    if not found:
        raise ConversionError("model conversion needs Python 3.11 (tensorflow-cpu 2.15); none found on PATH")
    return found


def _run(cmd: list[str], what: str, cwd: Path | None = None, log_path: Path | None = None) -> None:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if log_path:
        log_path.write_text(proc.stdout)
    if proc.returncode != 0:
        tail = (proc.stdout.strip().splitlines() or ["(no output)"])[-1]
        where = f" (full log: {log_path})" if log_path else ""
        raise ConversionError(f"{what} failed with exit code {proc.returncode}: {tail}{where}")


def tools_venv(cache_dir: Path, requirements: list[str]) -> Path:
    """Python of the tools venv for these pins; created on first use, reused while the pins are unchanged."""
    key = hashlib.sha256("\n".join(requirements).encode()).hexdigest()[:12]
    venv = cache_dir / f"tools-{key}"
    python = venv / "bin" / "python"
    marker = venv / _MARKER
    if marker.is_file() and json.loads(marker.read_text()) == requirements and python.exists():
        log.info("event=tools_venv action=reuse path=%s", venv)
        return python
    shutil.rmtree(venv, ignore_errors=True)  # a half-made venv from an interrupted run
    log.info("event=tools_venv action=create path=%s requirements=%s", venv, ",".join(requirements))
    start = time.monotonic()
    cache_dir.mkdir(parents=True, exist_ok=True)
    _run([_tools_python(), "-m", "venv", str(venv)], "creating the tools venv")
    _run(
        [str(python), "-m", "pip", "install", "--no-input", "--only-binary=:all:", *requirements],
        "installing the conversion tools",
        log_path=cache_dir / f"tools-{key}-pip.log",
    )
    marker.write_text(json.dumps(requirements))
    log.info("event=tools_venv action=created path=%s seconds=%.1f", venv, time.monotonic() - start)
    return python


def convert(python: Path, conversion: dict, source: Path, workdir: Path) -> Path:
    """Run the manifest's conversion command in `workdir` (which holds `source` under its wheel name)."""
    cmd = [str(python), *conversion["args"]]
    _run(cmd, f"{conversion['tool']} conversion of {source.name}", cwd=workdir, log_path=workdir / "convert.log")
    out = workdir / conversion["output"]
    if not out.is_file():
        raise ConversionError(f"{conversion['tool']} did not write {out}")
    return out


def check_probe(model: Path, probe: dict) -> bool:
    """Raise IntegrityError unless `model` is the vetted conversion: it reproduces the vetted outputs on the probe
    input or, for a CPU copy this CPU's integer kernels run otherwise (edge.probe), the reference outputs that
    any CPU gives with graph optimisations off. True when it runs as vetted here."""
    problem = probe_mismatch(model, probe, VETTED)
    if problem is None:
        log.info("event=probe file=%s result=ok", model)
        return True
    if REFERENCE in probe and (reference := probe_mismatch(model, probe, REFERENCE)) is None:
        log.warning(
            "event=probe file=%s result=reference_only kernels=%r action=%r",
            model,
            problem,
            "this CPU runs the model it was made from instead",
        )
        return False
    problem = reference if REFERENCE in probe else problem
    raise IntegrityError(f"converted model {model} does not match the vetted conversion: {problem}")
