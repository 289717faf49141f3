"""NVDEC decoding (NVIDIA PyNvVideoCodec 2.2) behind edge.decode.FrameDecoder; frames stay in GPU memory.

The samples are the CPU decoder's: which frame holds each sample is planned from the packets' timestamps
(PyAV demuxing, no decoding on the CPU), then NVDEC decodes those frames by index, colour-converted to RGB
by the decoder itself into device memory. A frame reaches the host only when a stage asks for a numpy array
(np.asarray: OCR at the sample rate); the visual models get device tensors resized on the GPU and bound to
onnxruntime without a host copy (edge.conse). The decode stage's torch work (taking frames from the decoder,
turning them upright, the change gate's thumbnails) runs on its own CUDA stream (edge.streams); a model stage
waits on a frame's ready event before resizing it on the model's stream. A file NVDEC cannot open (a codec it
lacks) is decoded on the CPU, with the reason logged.

Needs PyNvVideoCodec, torch with CUDA (device tensors, DLPack) and an NVIDIA driver; without them
NvdecDecoder.open() raises DecoderUnavailable and edge.decode.choose_decoder keeps the CPU decoder.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np

from edge import streams
from edge.decode import CpuDecoder, DecoderUnavailable, VideoError, _Selector

log = logging.getLogger("edge.decode")
_BATCH = 8  # frames asked of NVDEC at a time: a few ms of decoding, 22 MB of 720p RGB on the device


class DeviceFrame:
    """An RGB uint8 HxWx3 frame in GPU memory (a torch CUDA tensor) made on the decode stream `stream` (None:
    the caller's), complete once `ready` (a CUDA event) is. np.asarray copies it to the host, once."""

    def __init__(self, tensor, stream=None, ready=None):
        self.tensor, self.stream, self.ready = tensor, stream, ready
        self._host: np.ndarray | None = None

    def _here(self):
        """The tensor, safe to use on the current stream: after its decoding, and kept from reuse until then."""
        if self.ready is not None:
            import torch

            current = torch.cuda.current_stream(self.tensor.device)
            if current != self.stream:
                current.wait_event(self.ready)
                self.tensor.record_stream(current)
        return self.tensor

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.tensor.shape)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        if self._host is None:
            with streams.on_stream(self.stream):
                self._host = self._here().cpu().numpy()
        return self._host if dtype is None else self._host.astype(dtype)

    def crop(self, rows: slice, cols: slice) -> DeviceFrame:
        """A part of the frame, still in GPU memory (a view: nothing is copied), ready when the frame is."""
        return DeviceFrame(self.tensor[rows, cols], self.stream, self.ready)

    def resized(self, width: int, height: int):
        """uint8 HxWx3 device tensor, area-averaged like cv2.INTER_AREA when shrinking, made on the current
        stream (a model stage's)."""
        import torch.nn.functional as F

        tensor = self._here()
        chw = tensor.permute(2, 0, 1)[None].float()
        out = F.interpolate(chw, size=(height, width), mode="area")
        return out[0].permute(1, 2, 0).round_().clamp_(0, 255).to(dtype=tensor.dtype).contiguous()

    def thumbnail(self, width: int, height: int) -> np.ndarray:
        """float32 HxW grey (channel mean) of the area-resized frame, on the host: the change gate's input,
        made on the decode stream."""
        with streams.on_stream(self.stream):
            return self.resized(width, height).float().mean(dim=2).cpu().numpy()


class NvdecDecoder:
    name = "nvdec"

    def __init__(self, nvc, torch, gpu_id: int):
        self._nvc, self._torch, self.gpu_id = nvc, torch, gpu_id
        self._cpu = CpuDecoder()
        self.stream = streams.stage_stream("decode", gpu_id)

    @classmethod
    def open(cls, gpu_id: int = 0) -> NvdecDecoder:
        """The decoder, or DecoderUnavailable saying in one line why it cannot run here."""
        try:
            import PyNvVideoCodec as nvc
        except ImportError as exc:
            raise DecoderUnavailable(f"PyNvVideoCodec is not installed ({exc})") from exc
        except Exception as exc:  # its native libraries load at import: no driver, no NVDEC/NVENC libraries
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]  # then pages of troubleshooting
            raise DecoderUnavailable(f"PyNvVideoCodec does not load: {first}") from exc
        try:
            import torch
        except ImportError as exc:
            raise DecoderUnavailable("torch (GPU frames, DLPack) is not installed") from exc
        if not torch.cuda.is_available():
            raise DecoderUnavailable("torch sees no CUDA device")
        return cls(nvc, torch, gpu_id)

    def _decoder(self, path: Path):
        return self._nvc.SimpleDecoder(
            str(path), gpu_id=self.gpu_id, use_device_memory=True, output_color_type=self._nvc.OutputColorType.RGB
        )

    def _frames(self, decoder, indices: list[int], turns: int) -> Iterator[DeviceFrame]:
        torch = self._torch
        for i in range(0, len(indices), _BATCH):
            with streams.on_stream(self.stream):  # DLPack hands the surfaces over on the decode stream
                frames = []
                for surface in decoder.get_batch_frames_by_index(indices[i : i + _BATCH]):
                    # clone: the decoder reuses its output surfaces for the next batch
                    tensor = torch.from_dlpack(surface).clone()
                    if turns:
                        tensor = torch.rot90(tensor, turns, dims=(0, 1)).contiguous()
                    ready = torch.cuda.Event()
                    ready.record(self.stream)
                    frames.append(DeviceFrame(tensor, self.stream, ready))
            yield from frames

    def samples(
        self, path: Path, sample_fps: float = 1.0, bursts: tuple[float, int, float] | None = None
    ) -> Iterator[tuple[float, DeviceFrame | np.ndarray]]:
        times, indices, turns = _sample_plan(Path(path), 1.0 / sample_fps, bursts)
        try:
            decoder = self._decoder(path)
        except Exception as exc:  # e.g. a codec NVDEC does not have (MPEG-4 part 2 on recent GPUs)
            log.info("event=decoder_fallback path=%s decoder=cpu reason=%r", path, str(exc).splitlines()[0][:200])
            yield from self._cpu.samples(Path(path), sample_fps, bursts)
            return
        yield from zip(times, self._frames(decoder, indices, turns))


def _sample_plan(path: Path, step: float, bursts=None) -> tuple[list[float], list[int], int]:
    """From the packets alone: the sample (and burst) times, their frame indices in display order, and the
    quarter turns that put frames upright (the frames edge.decode.CpuDecoder takes)."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            tb, start = stream.time_base, stream.start_time or 0
            pts = sorted(p.pts for p in container.demux(stream) if p.size and p.pts is not None)
    except (av.error.FFmpegError, IndexError) as exc:
        raise VideoError(f"not a readable video: {exc}") from exc
    select = _Selector(step, bursts)
    taken = [(i, t) for i, t in enumerate(float((p - start) * tb) for p in pts) if select.take(t)]
    capture = cv2.VideoCapture(str(path))  # the rotation as edge.decode.probe reads it (clockwise degrees)
    rotation = int(capture.get(cv2.CAP_PROP_ORIENTATION_META) or 0) if capture.isOpened() else 0
    capture.release()
    return [t for _, t in taken], [i for i, _ in taken], (-rotation // 90) % 4
