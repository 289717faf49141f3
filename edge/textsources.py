"""The two text sources of evidence at index time: what is said (conversation) and what is shown (text_in_video).

Both end as timed text: the items themselves (spoken words, on-screen text spans) for exact matching and
inspection, and semantic segments (sentence windows, text spans) embedded by the text encoder (edge.bundles
.TextModels) for semantic matching.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.audio import audio_blocks
from edge.bundles import TextModels
from edge.textmatch import sentence_windows
from edge.types import Segments, TimedItems


def _segments(items: list[dict], encoder) -> Segments:
    texts = [item["text"] for item in items]
    return Segments(
        np.array([i["start"] for i in items], np.float32),
        np.array([i["end"] for i in items], np.float32),
        encoder.encode(texts).astype(np.float16),
        texts,
    )


def conversation(path: Path, models: TextModels) -> tuple[Segments, TimedItems]:
    """Transcribe a video's audio track once, streamed; no audio track gives empty evidence."""
    blocks = audio_blocks(path)
    if blocks is None:
        words, language = [], None
    else:
        transcript = models.transcriber.transcribe(blocks)
        words, language = transcript.words, transcript.language
    windows = sentence_windows(words)
    items = [{"start": w.start, "end": w.end, "text": w.text, "p": w.p} for w in words]
    return (
        _segments([{"start": w.start, "end": w.end, "text": w.text} for w in windows], models.encoder),
        TimedItems(language, items),
    )


def screen_text(spans, models: TextModels) -> tuple[Segments, TimedItems]:
    """On-screen text spans (edge.ocr; box = x0, y0, x1, y1 in frame pixels) -> semantic segments, one per
    span, and the spans themselves."""
    items = [
        {
            "start": round(s.start, 3),
            "end": round(s.end, 3),
            "text": s.text,
            "confidence": round(float(s.confidence), 4),
            "box": [int(v) for v in s.box],
        }
        for s in sorted(spans, key=lambda s: (s.start, s.end))
    ]
    return _segments(items, models.encoder), TimedItems(None, items)
