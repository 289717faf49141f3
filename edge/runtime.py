"""onnxruntime sessions: execution provider choice (TensorRT -> CUDA -> CPU) with a clean fallback."""

from __future__ import annotations

import logging
from pathlib import Path

try:
    import onnxruntime as ort
except ImportError as exc:  # the runtime is an extra: exactly one of onnxruntime / onnxruntime-gpu
    raise ImportError("no onnxruntime is installed: install edge with one runtime, pip install 'edge[cpu]' or "
                      "'edge[gpu]' (make setup RUNTIME=gpu)") from exc

log = logging.getLogger("edge.runtime")

_PROVIDERS = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
_PREFERENCE = ["tensorrt", "cuda", "cpu"]


class ProviderError(RuntimeError):
    pass


def choose_providers(forced: str | None = None) -> list[str]:
    """Providers to try, best first. `forced` (tensorrt|cuda|cpu) pins one and fails loudly if absent."""
    available = set(ort.get_available_providers())
    if forced:
        name = _PROVIDERS.get(forced.lower())
        if name is None:
            raise ProviderError(f"unknown execution provider {forced!r}; use one of {', '.join(_PROVIDERS)}")
        if name not in available:
            raise ProviderError(
                f"execution provider {forced!r} is not available in this onnxruntime build "
                f"(available: {', '.join(sorted(available))})")
        return [name] if name == "CPUExecutionProvider" else [name, "CPUExecutionProvider"]
    return [_PROVIDERS[p] for p in _PREFERENCE if _PROVIDERS[p] in available]


def open_session(path: Path, forced_provider: str | None = None, threads: int = 0) -> ort.InferenceSession:
    """A session on the best provider that loads; a GPU provider that fails to initialise falls back to CPU."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        opts.intra_op_num_threads = threads
    # Spinning idle threads steal the CPU from the decoder and the other model (61 ms vs 87 ms per frame).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # Denormal floats are slow on x86 and meaningless for inference: ~20% off the float SSD detector.
    opts.add_session_config_entry("session.set_denormal_as_zero", "1")
    providers = choose_providers(forced_provider)
    try:
        session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
    except Exception as exc:  # a GPU provider can fail at load time (driver, CUDA libraries)
        if forced_provider or providers == ["CPUExecutionProvider"]:
            raise
        log.warning("event=provider_fallback model=%s providers=%s error=%s", path.name, providers, exc)
        session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    log.debug("event=session_open model=%s providers=%s", path.name, session.get_providers())
    return session
