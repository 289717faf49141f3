"""Audio -> timed words: whisper.cpp (pywhispercpp) with DTW token timestamps.

A transcriber turns 16 kHz mono audio into a Transcript (language, words with start/end and probability).
Whisper computes a 30 s window whatever the input, so a video's track is transcribed once, whole.
Word times come from whisper.cpp's DTW alignment over the base model's alignment heads (~0.15 s);
segment timestamps alone are ~0.7 s off, too coarse for clips.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.audio import SAMPLE_RATE

log = logging.getLogger("edge.speech")

# Whisper writes these for non-speech sounds; they are not words anyone said.
_NON_SPEECH = re.compile(r"^\s*[\[(（♪*].*[\])）♪*]\s*$|^\s*♪+\s*$")
_SILENCE_RMS = 1e-3        # ~-60 dBFS: below this a track holds no speech; Whisper would only hallucinate
_MIN_DYNAMIC_DB = 12.0     # loud vs quiet moments of anything spoken (see might_hold_speech)
_SEGMENT_SLACK_S = 0.7     # how far segment times may be off
_SECONDS_PER_LETTER = 0.08  # slow speech: ~12 letters a second


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str       # as spoken, with its punctuation ("forecast.")
    p: float        # mean token probability


@dataclass(frozen=True)
class Transcript:
    language: str | None   # ISO code Whisper detected; None when there was nothing to transcribe
    words: list[Word]

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


def free_cores(window_s: float = 0.25) -> float:
    """How many cores were free for speech over a short window: idle, or running background-priority (niced)
    work such as edge's own frame stage, which yields to it (/proc/stat; the load average where missing)."""
    cores = os.cpu_count() or 1

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return fields[1] + fields[3] + fields[4], sum(fields)  # nice + idle + iowait, all
    try:
        idle0, total0 = sample()
        time.sleep(window_s)
        idle1, total1 = sample()
        return cores * (idle1 - idle0) / max(1, total1 - total0)
    except (OSError, ValueError, IndexError):
        return max(0.0, cores - os.getloadavg()[0])


def speech_threads() -> int:
    """The cores free right now (at least one); EDGE_SPEECH_THREADS overrides this (WhisperTranscriber's threads).

    whisper.cpp's threads meet at a barrier after every operation and spin there; a thread that shares
    its core with other busy work keeps the rest waiting, so with more threads than free cores speech
    slowed 5x (2 threads beside visual indexing at equal priority; 10-20x reported elsewhere). With only
    the free cores it slows just by the share of CPU it gets."""
    return max(1, min(os.cpu_count() or 1, int(free_cores() + 0.5)))


class WhisperTranscriber:
    """whisper.cpp on a verified ggml file; `key` names the model in the store."""

    key = "whisper-base"

    def __init__(self, model_path: Path, threads: int | None = None):
        import _pywhispercpp as pw
        from pywhispercpp.model import Model

        self._pw = pw
        self.threads = threads  # None: chosen per transcription by speech_threads()
        self.last_threads = 0
        self._model = Model(
            str(model_path), redirect_whispercpp_logs_to=None,
            context_params={"dtw_token_timestamps": True, "dtw_aheads_preset": pw.WHISPER_AHEADS_BASE,
                            "flash_attn": False, "use_gpu": False},
            n_threads=threads or 1, language="", print_progress=False, print_realtime=False,
            print_timestamps=False, no_context=True,
            # No temperature fallback: on silence and music it re-decodes each 30 s window up to 5 times
            # (measured: 2.5x real time on 8 s of room tone) for text that is then dropped anyway.
            temperature_inc=0.0)

    def transcribe(self, audio: np.ndarray) -> Transcript:
        if not might_hold_speech(audio):
            return Transcript(None, [])
        self.last_threads = self.threads or speech_threads()
        self._model.transcribe(audio.astype(np.float32, copy=False), n_threads=self.last_threads)
        return self._read_words()

    def _read_words(self) -> Transcript:
        pw, ctx = self._pw, self._model._ctx  # token data is only reachable through the context
        eot = pw.whisper_token_eot(ctx)
        words: list[Word] = []
        previous_end = 0.0
        for s in range(pw.whisper_full_n_segments(ctx)):
            bounds = (pw.whisper_full_get_segment_t0(ctx, s) / 100.0, pw.whisper_full_get_segment_t1(ctx, s) / 100.0)
            pieces: list[tuple[bytes, float, float]] = []  # (token bytes, dtw time, p)
            for t in range(pw.whisper_full_n_tokens(ctx, s)):
                data = pw.whisper_full_get_token_data(ctx, s, t)
                if data.id >= eot:  # special and timestamp tokens
                    continue
                # Bytes, not text: a token may hold part of a character (CJK, emoji), whole only per word.
                pieces.append((pw.whisper_token_to_bytes(ctx, data.id), data.t_dtw / 100.0, data.p))
            segment_words = _join_tokens(pieces, previous_end, bounds)
            words.extend(segment_words)
            previous_end = segment_words[-1].end if segment_words else previous_end
        words = [w for w in words if not _NON_SPEECH.match(w.text)]
        language = pw.whisper_lang_str(pw.whisper_full_lang_id(ctx)) if words else None
        return Transcript(language, _monotonic(words))


def might_hold_speech(audio: np.ndarray, frame_s: float = 0.03) -> bool:
    """False for a track that is silent or steady noise (a fixed camera's room tone, hum, fans): speech comes
    in syllables and pauses, so its loudness varies by far more than `_MIN_DYNAMIC_DB` between its loud and
    quiet moments. Whisper would spend a full 30 s window on such a track only to hallucinate."""
    n = int(frame_s * SAMPLE_RATE)
    if audio.size < 10 * n:
        return False
    frames = audio[: audio.size // n * n].reshape(-1, n)
    level = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1)) + 1e-9
    loud, quiet = np.percentile(level, 95), np.percentile(level, 10)
    return loud >= _SILENCE_RMS and 20 * np.log10(loud / quiet) >= _MIN_DYNAMIC_DB


def _join_tokens(pieces: list[tuple[bytes, float, float]], previous_end: float,
                 bounds: tuple[float, float]) -> list[Word]:
    """Byte-level tokens -> words (a token starting with a space starts a word), timed by DTW.

    whisper.cpp's DTW time of a token marks where the token ends (measured against synthesised speech:
    start/end errors 0.14/0.10 s on average, 0.28 s at most, read this way; 0.5 s late read as starts).
    So a word ends at its last token's time and starts where the word before it ended, but no earlier than
    a generous speaking time for its letters, so a word after a pause does not swallow the pause.
    Times stay within the segment's own (coarse, ~0.7 s) bounds, which catches a DTW path gone astray.
    """
    groups: list[list[tuple[bytes, float, float]]] = []
    for piece in pieces:
        if not groups or piece[0].startswith(b" "):
            groups.append([piece])
        else:
            groups[-1].append(piece)
    low, high = bounds[0] - _SEGMENT_SLACK_S, bounds[1] + _SEGMENT_SLACK_S
    words = []
    for group in groups:
        text = b"".join(p[0] for p in group).decode("utf-8", "replace").strip()
        if not text:
            continue
        end = min(max(group[-1][1], low), high)
        start = max(previous_end, end - (0.1 + _SECONDS_PER_LETTER * len(text)), low)
        words.append(Word(min(start, end), end, text, float(np.mean([p[2] for p in group]))))
        previous_end = end
    return words


def _monotonic(words: list[Word]) -> list[Word]:
    """DTW can leave a word a few ms before the previous one; times must never run backwards."""
    out, reach = [], 0.0
    for w in words:
        start = max(w.start, reach)
        end = max(w.end, start)
        out.append(Word(round(start, 3), round(end, 3), w.text, round(w.p, 4)))
        reach = start
    return out
