"""Where things live and which knobs an operator can turn (environment variables, all optional)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

MODEL_STORE_VERSION = "v1"
ALL_SOURCES = ("visual", "text_in_video", "conversation")


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else default


@dataclass(frozen=True)
class Settings:
    home: Path                 # EDGE_HOME: the SQLite store and caches
    models_dir: Path           # EDGE_MODELS_DIR: the verified model store (versioned)
    cache_dir: Path            # EDGE_CACHE_DIR: derived data that can be rebuilt (label embeddings)
    visual_bundle: str         # EDGE_VISUAL_BUNDLE: "conse" (default) or a path to a dual-encoder bundle
    provider: str | None       # EDGE_PROVIDER: force one onnxruntime provider: tensorrt, cuda or cpu
    sample_fps: float          # EDGE_SAMPLE_FPS: visual samples per second of video
    page_ttl_s: float          # EDGE_PAGE_TTL: lifetime of a page token in seconds
    threads: int               # EDGE_THREADS: intra-op threads per ONNX session (0 = onnxruntime's choice)
    sources: tuple[str, ...]   # EDGE_SOURCES: what `edge index` extracts: visual,text_in_video,conversation

    @property
    def db_path(self) -> Path:
        return self.home / "edge.sqlite"


def load_settings() -> Settings:
    data = Path(platformdirs.user_data_dir("edge", appauthor=False))
    home = _env_path("EDGE_HOME", data)
    return Settings(
        home=home,
        cache_dir=_env_path("EDGE_CACHE_DIR", home / "cache"),
        models_dir=_env_path("EDGE_MODELS_DIR", data / "models" / MODEL_STORE_VERSION),
        visual_bundle=os.environ.get("EDGE_VISUAL_BUNDLE", "conse"),
        provider=(os.environ.get("EDGE_PROVIDER") or None),
        sample_fps=float(os.environ.get("EDGE_SAMPLE_FPS", "1.0")),
        page_ttl_s=float(os.environ.get("EDGE_PAGE_TTL", "300")),
        threads=int(os.environ.get("EDGE_THREADS", "0")),
        sources=tuple(s.strip() for s in os.environ.get("EDGE_SOURCES", ",".join(ALL_SOURCES)).split(",") if s.strip()),
    )
