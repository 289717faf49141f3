"""The two text sources of evidence: what is said (conversation) and what is shown (text_in_video).

Both end as timed text: the items themselves (spoken words, on-screen text spans) for exact matching and
inspection, and semantic segments (sentence windows, text spans) embedded by the text encoder for
semantic matching. Matching is text to text, so it always uses the text encoder (bge), whatever visual
bundle is configured, with its own calibration (calibration/text.json).
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import numpy as np

from edge.audio import load_audio
from edge.calibration import Calibration
from edge.config import Settings
from edge.store import Segments, TimedItems
from edge.textmatch import sentence_windows

CONVERSATION, TEXT_IN_VIDEO = "conversation", "text_in_video"
TEXT_CALIBRATION = Path(__file__).resolve().parent.parent / "calibration" / "text.json"
TEXT_REFERENCE = Path(__file__).resolve().parent.parent / "calibration" / "text-reference.txt"


class TextModels:
    """The text encoder and its calibration, the transcriber and the OCR engine, each loaded when first used."""

    def __init__(self, settings: Settings, calibration: dict | None = None):
        self.settings, self._calibration_spec = settings, calibration

    @cached_property
    def encoder(self):
        from edge.bundles import load_text_encoder
        return load_text_encoder(self.settings)

    @cached_property
    def calibration(self) -> Calibration:
        spec = self._calibration_spec or json.loads(TEXT_CALIBRATION.read_text())
        reference = self.encoder.encode(reference_sentences()) if spec.get("feature", "cosine") != "cosine" else None
        return Calibration.from_dict(spec, reference)

    @cached_property
    def transcriber(self):
        from edge.modelstore import model_path
        from edge.speech import WhisperTranscriber
        return WhisperTranscriber(model_path(self.settings.models_dir, "speech-whisper-base", "ggml-base.bin"))

    @cached_property
    def ocr(self):
        from edge.ocr import OcrEngine
        # rgb: the index's samples (edge.decode.sample_frames) are RGB. One thread unless EDGE_THREADS says
        # otherwise: detection took 99 CPU-ms on one, 120 on two (for 95 vs 65 ms of wall time).
        return OcrEngine.from_store(self.settings.models_dir, provider=self.settings.provider,
                                    threads=self.settings.threads or 1, rgb=True)

    def text_reader(self, step: float):
        """A reader of one video's on-screen text, fed the index's samples (`step` seconds apart)."""
        from edge.ocr import TextReader
        return TextReader(self.ocr, step)

    def load(self, sources) -> None:
        """Load the models these sources need now (each is otherwise loaded when first used)."""
        needs = {CONVERSATION: ("encoder", "transcriber"), TEXT_IN_VIDEO: ("encoder", "ocr")}
        for name in dict.fromkeys(n for source in sources for n in needs.get(source, ())):
            getattr(self, name)

    def key(self, source: str) -> str:
        """The store key of a source's segments: the model that read the text and the one that embedded it."""
        reader = "whisper-base" if source == CONVERSATION else "ppocrv6"
        return f"{reader}+{self.encoder.key}"


def reference_sentences() -> list[str]:
    """Ordinary sentences on every kind of topic: a prompt's similarity to them is what "unrelated" looks like."""
    return [line.strip() for line in TEXT_REFERENCE.read_text().splitlines() if line.strip()
            and not line.startswith("#")]


def _segments(items: list[dict], encoder) -> Segments:
    texts = [item["text"] for item in items]
    return Segments(np.array([i["start"] for i in items], np.float32), np.array([i["end"] for i in items], np.float32),
                    encoder.encode(texts).astype(np.float16), texts)


def conversation(path: Path, models: TextModels) -> tuple[Segments, TimedItems]:
    """Transcribe a video's audio track once, whole; no audio track gives empty evidence."""
    audio = load_audio(path)
    if audio is None:
        words, language = [], None
    else:
        transcript = models.transcriber.transcribe(audio)
        words, language = transcript.words, transcript.language
    windows = sentence_windows(words)
    items = [{"start": w.start, "end": w.end, "text": w.text, "p": w.p} for w in words]
    return (_segments([{"start": w.start, "end": w.end, "text": w.text} for w in windows], models.encoder),
            TimedItems(language, items))


def screen_text(spans, models: TextModels) -> tuple[Segments, TimedItems]:
    """On-screen text spans (edge.ocr; box = x0, y0, x1, y1 in frame pixels) -> semantic segments, one per
    span, and the spans themselves."""
    items = [{"start": round(s.start, 3), "end": round(s.end, 3), "text": s.text,
              "confidence": round(float(s.confidence), 4), "box": [int(v) for v in s.box]}
             for s in sorted(spans, key=lambda s: (s.start, s.end))]
    return _segments(items, models.encoder), TimedItems(None, items)
