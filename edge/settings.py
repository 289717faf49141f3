"""Every knob an operator can turn (environment variables, all optional), read and validated in one place.

A bad value is a SettingsError naming the variable, raised when the settings are loaded: at start-up, not in
the middle of a batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from edge.types import SOURCES

MODEL_STORE_VERSION = "v1"
PROVIDERS = ("tensorrt", "cuda", "cpu")
DECODERS = ("auto", "cpu", "nvdec")
TRT_PRECISIONS = ("fp16", "int8", "fp32")


class SettingsError(ValueError):
    """An environment variable holds a value edge cannot use; the message names it."""


@dataclass(frozen=True)
class Settings:
    home: Path  # EDGE_HOME: the SQLite store and caches
    models_dir: Path  # EDGE_MODELS_DIR: the verified model store (versioned)
    cache_dir: Path  # EDGE_CACHE_DIR: derived data that can be rebuilt (label embeddings)
    visual_bundle: str  # EDGE_VISUAL_BUNDLE: "conse" (default) or a path to a dual-encoder bundle
    provider: str | None  # EDGE_PROVIDER: force one onnxruntime provider: tensorrt, cuda or cpu
    sample_fps: float  # EDGE_SAMPLE_FPS: visual samples per second of video
    page_ttl_s: float  # EDGE_PAGE_TTL: lifetime of a page token in seconds
    threads: int  # EDGE_THREADS: intra-op threads per ONNX session (0 = onnxruntime's choice)
    sources: tuple[str, ...]  # EDGE_SOURCES: what `edge index` extracts
    speech_threads: int  # EDGE_SPEECH_THREADS: whisper.cpp threads (0 = the cores free at that moment)
    frame_nice: int  # EDGE_FRAME_NICE: how much lower the frame stage's CPU priority is (0 = same)
    api_keys: tuple[str, ...]  # EDGE_API_KEYS: accepted x-api-key values (comma-separated)
    rate_limit: int | None  # EDGE_RATE_LIMIT: requests per minute and key, enforced when set
    thumbnail_cache_bytes: int  # EDGE_THUMBNAIL_CACHE_MB: cap of the clip thumbnails kept on disk (edge serve)
    action_every_s: float  # EDGE_ACTION_EVERY: seconds between action windows in the visual index (0 = actions off)
    rate_window_s: float  # EDGE_RATE_WINDOW: seconds of one rate-limit window (60: per minute)
    decoder: str = "auto"  # EDGE_DECODER: auto (NVDEC when it loads, else CPU), cpu or nvdec
    gpu_device: int = 0  # EDGE_GPU_DEVICE: the CUDA device for NVDEC and the GPU providers
    trt_precision: str = "fp16"  # EDGE_TRT_PRECISION: TensorRT fp16, int8 (calibrated float models) or fp32
    frame_views: bool = True  # EDGE_FRAME_VIEWS: on (a wide frame classified as its two end squares) or off (whole)

    @property
    def db_path(self) -> Path:
        return self.home / "edge.sqlite"

    @property
    def thumbnail_dir(self) -> Path:
        return self.cache_dir / "thumbnails"


def _text(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


def _path(name: str, default: Path) -> Path:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else default


def _number(
    name: str,
    default: float,
    kind=float,
    low: float | None = None,
    high: float | None = None,
    above: float | None = None,
):
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be {'a whole number' if kind is int else 'a number'}, got {raw!r}") from None
    if (
        (low is not None and value < low)
        or (high is not None and value > high)
        or (above is not None and value <= above)
    ):
        bounds = [
            f"> {above:g}" if above is not None else "",
            f">= {low:g}" if low is not None else "",
            f"<= {high:g}" if high is not None else "",
        ]
        raise SettingsError(f"{name} must be {' and '.join(b for b in bounds if b)}, got {raw!r}")
    return value


def _choices(name: str, allowed: tuple[str, ...], default: tuple[str, ...]) -> tuple[str, ...]:
    raw = os.environ.get(name, "")
    values = tuple(dict.fromkeys(v.strip().lower() for v in raw.split(",") if v.strip()))
    if not raw.strip():
        return default
    unknown = [v for v in values if v not in allowed]
    if unknown or not values:
        raise SettingsError(f"{name} must name some of {', '.join(allowed)}, got {raw!r}")
    return values


def _one(name: str, allowed: tuple[str, ...], default: str) -> str:
    value = _text(name, default).lower()
    if value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, got {os.environ.get(name)!r}")
    return value


def load_settings() -> Settings:
    data = Path(platformdirs.user_data_dir("edge", appauthor=False))
    home = _path("EDGE_HOME", data)
    provider = _choices("EDGE_PROVIDER", PROVIDERS, ())
    if len(provider) > 1:
        raise SettingsError(f"EDGE_PROVIDER names one provider ({', '.join(PROVIDERS)}), got {','.join(provider)!r}")
    rate_limit = _number("EDGE_RATE_LIMIT", 0, int, low=1) or None
    action_every_s = _number("EDGE_ACTION_EVERY", 4.0, low=0, high=600)
    if 0 < action_every_s < 1.5:  # a window (16 frames at 12 fps) lasts 1.33 s: windows cannot come closer
        raise SettingsError(
            f"EDGE_ACTION_EVERY must be 0 (actions off) or at least 1.5 (seconds), got {action_every_s:g}"
        )
    return Settings(
        home=home,
        cache_dir=_path("EDGE_CACHE_DIR", home / "cache"),
        models_dir=_path("EDGE_MODELS_DIR", data / "models" / MODEL_STORE_VERSION),
        visual_bundle=_text("EDGE_VISUAL_BUNDLE", "conse"),
        provider=provider[0] if provider else None,
        sample_fps=_number("EDGE_SAMPLE_FPS", 1.0, above=0, high=60),
        page_ttl_s=_number("EDGE_PAGE_TTL", 300.0, above=0),
        threads=_number("EDGE_THREADS", 0, int, low=0),
        sources=_choices("EDGE_SOURCES", SOURCES, SOURCES),
        speech_threads=_number("EDGE_SPEECH_THREADS", 0, int, low=0),
        frame_nice=_number("EDGE_FRAME_NICE", 10, int, low=0, high=19),
        api_keys=tuple(k.strip() for k in os.environ.get("EDGE_API_KEYS", "").split(",") if k.strip()),
        rate_limit=rate_limit,
        thumbnail_cache_bytes=int(_number("EDGE_THUMBNAIL_CACHE_MB", 256.0, low=0) * (1 << 20)),
        action_every_s=action_every_s,
        rate_window_s=_number("EDGE_RATE_WINDOW", 60.0, above=0),
        decoder=_one("EDGE_DECODER", DECODERS, "auto"),
        gpu_device=_number("EDGE_GPU_DEVICE", 0, int, low=0),
        trt_precision=_one("EDGE_TRT_PRECISION", TRT_PRECISIONS, "fp16"),
        frame_views=_one("EDGE_FRAME_VIEWS", ("on", "off"), "on") == "on",
    )
