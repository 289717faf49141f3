"""One CUDA stream per GPU stage (decode, each frame model, OCR, actions), shared by the stage's torch work and
its onnxruntime session (edge.runtime passes it as the provider option `user_compute_stream`).

Work on one stream runs in order, so a stage's resizes and its model need no host synchronisation between
them, and stages on different streams overlap on the GPU instead of queueing behind each other on torch's
default stream (which onnxruntime also refuses as a user stream: it reads handle 0 as "none").
Without torch seeing a CUDA device there are no stage streams: GPU sessions then run on onnxruntime's own
stream and one `event=stage_streams_off` line says why. Nothing here runs for CPU sessions.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading

log = logging.getLogger("edge.streams")
_lock = threading.Lock()
_streams: dict[tuple[str, int], object] = {}  # (stage, device) -> torch.cuda.Stream


@functools.cache
def _torch_cuda():
    """torch when it can make CUDA streams here, else None (the reason logged once)."""
    try:
        import torch
    except ImportError:
        reason = "torch is not installed"
    else:
        if torch.cuda.is_available():
            return torch
        reason = "torch sees no CUDA device"
    log.info("event=stage_streams_off reason=%r", f"{reason}: GPU sessions run on onnxruntime's own stream")
    return None


def stage_stream(stage: str, device_id: int = 0):
    """The stage's torch.cuda.Stream (made on first use, shared by every caller of that stage), or None."""
    torch = _torch_cuda()
    if torch is None:
        return None
    with _lock:
        key = (stage, device_id)
        if key not in _streams:
            _streams[key] = torch.cuda.Stream(device=device_id)
        return _streams[key]


def handle(stream) -> str:
    """The stream as onnxruntime's provider options take it: the cudaStream_t address in decimal."""
    return str(stream.cuda_stream)


@contextlib.contextmanager
def on_stream(stream):
    """Torch work inside the block is queued on `stream`, after what the caller's stream had queued before it
    (the block's inputs may come from there). `None`: the caller's stream, unchanged."""
    if stream is None:
        yield
        return
    torch = _torch_cuda()
    caller = torch.cuda.current_stream(stream.device)
    if caller != stream:
        stream.wait_stream(caller)
    with torch.cuda.stream(stream):
        yield
