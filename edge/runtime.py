"""onnxruntime sessions: execution provider choice (TensorRT -> CUDA -> CPU) with a clean fallback, GPU
provider options (TensorRT engine cache, FP16 / INT8), and a record of the providers each model really got.

onnxruntime itself drops a requested provider it does not have with only a Python warning, and raises when
one it has fails to initialise (driver, CUDA libraries). Both end here the same way: the next provider in
the list is tried and one `event=provider_fallback` line says why; a provider forced by EDGE_PROVIDER
that does not load is an error naming it.
"""

from __future__ import annotations

import functools
import logging
import shutil
import warnings
from pathlib import Path

try:
    import onnxruntime as ort
except ImportError as exc:  # the runtime is an extra: exactly one of onnxruntime / onnxruntime-gpu
    raise ImportError(
        "no onnxruntime is installed: install edge with one runtime, pip install 'edge[cpu]' or "
        "'edge[gpu]' (make setup RUNTIME=gpu)"
    ) from exc

from edge.modelfiles import DATA_DIR  # noqa: E402  (after the onnxruntime check)

log = logging.getLogger("edge.runtime")

_PROVIDERS = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
_PREFERENCE = ["tensorrt", "cuda", "cpu"]
CPU = "CPUExecutionProvider"
# INT8 calibration tables (onnxruntime.quantization's flatbuffers format) for float models, by model folder
# name, shipped in edge/data/int8; written by scripts/calibrate_int8.py from calibration/frames. Models already
# quantized (QDQ) need none.
INT8_TABLES = DATA_DIR / "int8"

_opened: dict[str, list[str]] = {}  # model label -> providers its session really got, best first


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
                f"(available: {', '.join(sorted(available))})"
            )
        return [name] if name == CPU else [name, CPU]
    return [_PROVIDERS[p] for p in _PREFERENCE if _PROVIDERS[p] in available]


def model_label(path: Path) -> str:
    """A model's name as `edge models list` shows it: its store folder (image-efficientnet-lite3/model.onnx)."""
    return f"{path.parent.name}/{path.name}"


def provider_options(name: str, path: Path) -> dict[str, str]:
    """Options for one GPU provider and model; the CPU provider takes none."""
    if name == CPU:
        return {}
    from edge.settings import load_settings  # only read when a GPU provider is in play

    settings = load_settings()
    options = {"device_id": str(settings.gpu_device)}
    if name != "TensorrtExecutionProvider":
        return options
    # Engines take seconds to minutes to build; cached on disk they load in milliseconds next time.
    cache = settings.cache_dir / "tensorrt"
    cache.mkdir(parents=True, exist_ok=True)
    options.update(
        trt_engine_cache_enable="True",
        trt_engine_cache_path=str(cache),
        trt_timing_cache_enable="True",
        trt_timing_cache_path=str(cache),
        trt_fp16_enable=str(settings.trt_precision in ("fp16", "int8")),
    )
    table = INT8_TABLES / f"{path.parent.name}.flatbuffers"
    if settings.trt_precision == "int8" and table.is_file():
        # The TensorRT provider reads the table from its engine cache folder, by name.
        name_in_cache = f"{path.parent.name}-calibration.flatbuffers"
        shutil.copyfile(table, cache / name_in_cache)
        options.update(
            trt_int8_enable="True",
            trt_int8_calibration_table_name=name_in_cache,
            trt_int8_use_native_calibration_table="False",
        )
    return options


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def _session_options(threads: int) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        opts.intra_op_num_threads = threads
    # Spinning idle threads steal the CPU from the decoder and the other model (61 ms vs 87 ms per frame).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # Denormal floats are slow on x86 and meaningless for inference: ~20% off the float SSD detector.
    opts.add_session_config_entry("session.set_denormal_as_zero", "1")
    return opts


@functools.cache
def _preload_cuda_libraries() -> None:
    """onnxruntime-gpu finds CUDA and cuDNN in the nvidia-* pip packages only once told to load them."""
    if hasattr(ort, "preload_dlls"):
        try:
            ort.preload_dlls()
        except Exception as exc:  # noqa: BLE001  (the CUDA provider then fails to load and says why)
            log.info("event=cuda_preload_failed reason=%r", _one_line(exc))


def open_session(path: Path, forced_provider: str | None = None, threads: int = 0) -> ort.InferenceSession:
    """A session on the best provider that loads, falling back one provider at a time (module docstring)."""
    path, label = Path(path), model_label(Path(path))
    opts = _session_options(threads)
    providers = choose_providers(forced_provider)
    if providers != [CPU]:
        _preload_cuda_libraries()
    while True:
        wanted = providers[0]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # onnxruntime's "not in available provider names": checked below
                session = ort.InferenceSession(
                    str(path), sess_options=opts, providers=[(p, provider_options(p, path)) for p in providers]
                )
            got = session.get_providers()
            if got[0] == wanted:
                break
            reason = f"onnxruntime gave {got[0]}"
        except Exception as exc:  # a GPU provider can fail at load time (driver, CUDA libraries, engine build)
            if wanted == CPU:
                raise
            reason = _one_line(exc)
        if forced_provider:
            raise ProviderError(
                f"execution provider {forced_provider!r} (EDGE_PROVIDER) did not load for {label}: {reason}"
            )
        log.warning("event=provider_fallback model=%s provider=%s reason=%r", label, wanted, reason)
        if reason.startswith("onnxruntime gave") and got[0] in providers[1:]:
            break  # onnxruntime already fell back to the next provider in the list
        providers = providers[1:]
    _opened[label] = got
    log.debug("event=session_open model=%s providers=%s", label, got)
    return session


def opened_providers() -> dict[str, list[str]]:
    """Providers each model opened in this process really got (for `edge models list` and /health)."""
    return dict(_opened)


def on_gpu(session: ort.InferenceSession) -> bool:
    return session.get_providers()[0] != CPU


_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(uint8)": "uint8",
    "tensor(int8)": "int8",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
}


def run_on_device(session: ort.InferenceSession, inputs: dict, device_id: int = 0) -> list:
    """Run a GPU session on torch CUDA tensors through IO binding: inputs and outputs stay in device memory
    (outputs are torch tensors). Output dimensions the model leaves open are taken as the batch size."""
    import numpy as np
    import torch

    binding = session.io_binding()
    batch = next(iter(inputs.values())).shape[0]
    # torch queues its kernels (the resizes) on its own stream; onnxruntime runs on another.
    torch.cuda.current_stream().synchronize()
    kept = []
    for name, tensor in inputs.items():
        tensor = tensor.contiguous()
        kept.append(tensor)
        binding.bind_input(
            name,
            "cuda",
            device_id,
            np.dtype(str(tensor.dtype).removeprefix("torch.")),
            tuple(tensor.shape),
            tensor.data_ptr(),
        )
    outputs = []
    for out in session.get_outputs():
        shape = [d if isinstance(d, int) else batch for d in out.shape]
        dtype = _ORT_TYPES[out.type]
        buffer = torch.empty(shape, dtype=getattr(torch, dtype), device=f"cuda:{device_id}")
        binding.bind_output(out.name, "cuda", device_id, np.dtype(dtype), shape, buffer.data_ptr())
        outputs.append(buffer)
    session.run_with_iobinding(binding)
    binding.synchronize_outputs()
    return outputs
