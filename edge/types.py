"""The shared vocabulary: the evidence sources and the types that flow between stages.

Everything imports these downward; this module imports nothing of edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

VISUAL, CONVERSATION, TEXT_IN_VIDEO = "visual", "conversation", "text_in_video"
SOURCES = (VISUAL, CONVERSATION, TEXT_IN_VIDEO)  # the API's order
FRAME_SOURCES = (VISUAL, TEXT_IN_VIDEO)  # read from decoded pictures (one decode serves both)
TEXT_SOURCES = (CONVERSATION, TEXT_IN_VIDEO)  # timed text, matched by the text encoder
SEMANTIC, EXACT_MATCH = "semantic", "exact_match"
CONVERSATION_OPTIONS = (SEMANTIC, EXACT_MATCH)


@dataclass(frozen=True)
class VideoInfo:
    duration: float
    fps: float
    width: int
    height: int
    rotation: int
    has_audio: bool


@dataclass(frozen=True)
class Segments:
    """One source's evidence for one video: timed segments and their unit vectors (and texts, for text sources)."""

    starts: np.ndarray  # float32 [n] seconds
    ends: np.ndarray  # float32 [n]
    vectors: np.ndarray  # float16 [n, dim], unit rows
    texts: list[str] | None = None


@dataclass(frozen=True)
class TimedItems:
    language: str | None
    items: list[dict]  # {"start", "end", "text", ...}: spoken words or on-screen text spans, in time order


@dataclass(frozen=True)
class Thresholds:
    min_video_score: float = 75.0
    min_clip_score: float = 30.0
    min_duration_ratio: float = 0.5


@dataclass(frozen=True)
class Clip:
    start: float
    end: float
    score: float
    option: str
    prompt: str
    peak: float | None = None  # time of the clip's best moment (its thumbnail); None: the clip's middle
