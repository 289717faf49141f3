"""onnxruntime sessions: execution provider choice (TensorRT -> CUDA -> CPU) with a clean fallback, GPU
provider options (TensorRT engine cache, FP16 / INT8), and a record of the providers each model really got.

onnxruntime itself drops a requested provider it does not have with only a Python warning, and raises when
one it has fails to initialise (driver, CUDA libraries); its own retry is turned off, since it prints to stdout
and drops the provider options. Both end here the same way: the next provider in the list is tried and one
`event=provider_fallback` line says why; a provider forced by EDGE_PROVIDER that does not load is an error
naming it. A GPU session runs on its stage's CUDA stream (edge.streams), shared with the stage's torch work.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import shutil
import sys
import warnings
import weakref
from pathlib import Path

try:
    import onnxruntime as ort
except ImportError as exc:  # the runtime is an extra: exactly one of onnxruntime / onnxruntime-gpu
    raise ImportError(
        "no onnxruntime is installed: install edge with one runtime, pip install 'edge[cpu]' or "
        "'edge[gpu]' (make setup RUNTIME=gpu)"
    ) from exc

from edge import streams  # noqa: E402  (after the onnxruntime check)
from edge.modelfiles import DATA_DIR  # noqa: E402

log = logging.getLogger("edge.runtime")

_PROVIDERS = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
_PREFERENCE = ["tensorrt", "cuda", "cpu"]
CPU = "CPUExecutionProvider"
# INT8 calibration tables (onnxruntime.quantization's flatbuffers format) for float models, by model folder
# name, shipped in edge/data/int8; written by scripts/calibrate_int8.py from edge/data/int8/frames. Models already
# quantized (QDQ) need none.
INT8_TABLES = DATA_DIR / "int8"

_opened: dict[str, list[str]] = {}  # model label -> providers its session really got, best first
_stage_streams: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # GPU session -> its stage's stream


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


def provider_options(name: str, path: Path, stream=None) -> dict[str, str]:
    """Options for one GPU provider and model, on `stream` (a torch.cuda.Stream) when given; the CPU provider
    takes none."""
    if name == CPU:
        return {}
    from edge.settings import load_settings  # only read when a GPU provider is in play

    settings = load_settings()
    options = {"device_id": str(settings.gpu_device)}
    if stream is not None:  # the same two keys for the CUDA and the TensorRT provider
        options.update(has_user_compute_stream="1", user_compute_stream=streams.handle(stream))
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
    """onnxruntime-gpu finds CUDA and cuDNN in the nvidia-* pip packages only once told to load them (torch,
    when imported first, has loaded its own). What it fails to load it prints: to stderr here, since stdout
    carries the CLI's JSON."""
    if hasattr(ort, "preload_dlls"):
        try:
            with contextlib.redirect_stdout(sys.stderr):
                ort.preload_dlls()
        except Exception as exc:  # noqa: BLE001  (the CUDA provider then fails to load and says why)
            log.info("event=cuda_preload_failed reason=%r", _one_line(exc))


def _gpu_device() -> int:
    from edge.settings import load_settings  # only read when a GPU provider is in play

    return load_settings().gpu_device


def open_session(
    path: Path, forced_provider: str | None = None, threads: int = 0, stage: str | None = None
) -> ort.InferenceSession:
    """A session on the best provider that loads, falling back one provider at a time (module docstring).
    On a GPU it runs on the CUDA stream of `stage` (default: its own model label); sessions that run one
    after another in one stage (OCR's detector and recogniser) share it."""
    path, label = Path(path), model_label(Path(path))
    opts = _session_options(threads)
    providers = choose_providers(forced_provider)
    stream = None
    if providers != [CPU]:
        stream = streams.stage_stream(stage or label, _gpu_device())  # imports torch first, where there is one
        _preload_cuda_libraries()
    while True:
        wanted = providers[0]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # onnxruntime's "not in available provider names": checked below
                session = ort.InferenceSession(
                    str(path),
                    sess_options=opts,
                    providers=[(p, provider_options(p, path, stream)) for p in providers],
                    enable_fallback=0,
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
    if got[0] != CPU and stream is not None:
        _stage_streams[session] = stream
    log.debug("event=session_open model=%s providers=%s", label, got)
    return session


def session_stream(session: ort.InferenceSession):
    """The CUDA stream a GPU session runs on (a torch.cuda.Stream), or None: a CPU session, or no torch."""
    return _stage_streams.get(session)


def stage(session: ort.InferenceSession):
    """Context: torch work inside runs on the session's stage stream, ordered before and after its runs."""
    return streams.on_stream(session_stream(session))


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
    (outputs are torch tensors, ready when it returns). Output dimensions the model leaves open are taken as the
    batch size. On the session's stage stream the inputs' kernels are simply queued before the run's."""
    import torch

    caller = torch.cuda.current_stream(device_id)
    with stage(session):
        outputs = _run_bound(session, inputs, device_id)
    stream = session_stream(session)
    if stream is not None and stream != caller:
        for out in outputs:  # freed by the caller later: not reused on the stage stream before its kernels ran
            out.record_stream(caller)
    return outputs


def _run_bound(session: ort.InferenceSession, inputs: dict, device_id: int) -> list:
    import numpy as np
    import torch

    binding = session.io_binding()
    batch = next(iter(inputs.values())).shape[0]
    if session_stream(session) is None:  # onnxruntime's own stream knows nothing of torch's queue
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
