"""The frame stage's threads: the decoder in the calling thread, each sample consumer on a thread of its own.

Decoding, the visual models and OCR then overlap on both cores (PyAV, onnxruntime and OpenCV release the
GIL). Queues are short, so a slow consumer holds the decoder back instead of filling memory, and a
consumer that fails stops the decoding. Threads inherit the caller's CPU priority (Linux nice values are
per thread), so the whole stage stays at the frame thread's background priority.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator

import numpy as np

_DEPTH = 16  # samples waiting per consumer: ~44 MB of 720p frames each, enough to ride out a batch
_DONE = object()


class _Worker:
    def __init__(self, consume: Callable[[float, np.ndarray], None]):
        # A consumer that can take frames where the decoder left them (GPU memory) says so; others get numpy.
        self.device = getattr(getattr(consume, "__self__", None), "device_frames", False)
        self.consume, self.queue, self.error = consume, queue.Queue(maxsize=_DEPTH), None
        self.thread = threading.Thread(target=self._run, name="frame-consumer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (item := self.queue.get()) is not _DONE:
            if self.error is None:
                try:
                    self.consume(*item)
                except BaseException as exc:  # re-raised in the decoding thread
                    self.error = exc

    def put(self, t: float, frame) -> None:
        self.queue.put((t, frame if self.device or isinstance(frame, np.ndarray) else np.asarray(frame)))

    def close(self) -> None:
        self.queue.put(_DONE)
        self.thread.join()


def fan_out(
    frames: Iterable[tuple[float, np.ndarray]],
    consumers: list[Callable[[float, np.ndarray], None]],
    dense_consumers: list[Callable[[float, np.ndarray], None]] = (),
    step: float | None = None,
) -> Iterator[float]:
    """Hand every sample to every consumer (each on its thread, in order); yield each sample's time once it
    is queued. With `step` the frames also hold bursts (the action windows): the dense consumers get every
    frame, the others only the samples, the frames on the 1/step grid as the decoder picks them. Returns
    when all consumers have finished; the first consumer error is raised."""
    workers = [_Worker(c) for c in consumers]
    dense = [_Worker(c) for c in dense_consumers]
    next_t = 0.0
    try:
        for t, frame in frames:
            for worker in workers + dense:
                if worker.error is not None:
                    raise worker.error
            for worker in dense:
                worker.put(t, frame)
            if step:
                if t + 1e-6 < next_t:
                    continue
                next_t += step * max(1, int((t - next_t) / step) + 1)
            for worker in workers:
                worker.put(t, frame)
            yield t
    finally:
        for worker in workers + dense:
            worker.close()
    for worker in workers + dense:
        if worker.error is not None:
            raise worker.error
