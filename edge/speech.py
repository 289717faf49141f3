"""Audio -> timed words: whisper.cpp (pywhispercpp) with DTW token timestamps, on the speech the VAD found.

A transcriber turns 16 kHz mono audio (one array, or a stream of blocks: edge.audio.audio_blocks) into a
Transcript (language, words with start/end and probability) in the track's own time base. Only the chunks
the voice-activity gate (edge.vad) passes reach Whisper, packed back to back into windows of at most `PACK_S`
(one encoder pass each, sized to the window: `audio_ctx`), so a track's speech costs about as many encoder
passes as it has 30 s of speech, however it is spread. Word times come from whisper.cpp's DTW alignment over
the base model's alignment heads (~0.15 s), mapped back through the packing; segment times are ~0.7 s off.
What Whisper writes for sounds ("[BIRDS CHIRPING]", "(upbeat music)", "♪ ... ♪") is dropped whole, and a
segment Whisper itself doubts (a repetition loop, text it barely believes) is rejected.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.audio import SAMPLE_RATE
from edge.vad import Chunk, SileroVad, speech_chunks

log = logging.getLogger("edge.speech")

# Whisper's sound annotations: an opening mark starts one, its partner ends it, whatever lies between
# (several words, several tokens) goes with it. "♪" and "*" pair with themselves.
_TAG_PAIRS = {"[": "]", "(": ")", "（": "）", "【": "】", "♪": "♪", "*": "*", "<": ">"}
_MAX_COMPRESSION = 2.4  # zlib ratio of a segment's text above which it is a repetition loop (Whisper's rule)
_NO_SPEECH = 0.6  # Whisper's "nothing was said": no-speech probability above this ...
_MIN_AVG_LOGPROB = -1.0  # ... with an average token log-probability below this
_DOUBTFUL_LOGPROB = -1.5  # a segment this unlikely is not kept even when Whisper heard speech
_LANGUAGE_PROBE_S = 10.0  # of the first speech: enough to tell the language
_SURE_LANGUAGE = 0.5  # a short-window language reading less likely than this is read again (see _detect_language)
_MIN_INPUT_S = 1.1  # whisper.cpp refuses inputs under 1 s: shorter chunks are padded with silence
_FRAMES_PER_S = 50  # encoder positions per second of audio (1500 per 30 s window)
# A pack's audio: one window with room for AUDIO_CTX_MARGIN; edge.vad cuts no chunk longer than this.
PACK_S = 28.0
_PROMPT_WORDS = 40  # of the track's text so far, given to Whisper with each pack
AUDIO_CTX_MARGIN = 64  # encoder positions beyond a chunk's own, so its last word is not cut (see bench)
_SEGMENT_SLACK_S = 0.7  # how far segment times may be off
_SECONDS_PER_LETTER = 0.08  # slow speech: ~12 letters a second
# The prompted re-decode's encoder window is at least this (15 s): on the development set's fit part a name was
# re-decoded right in 9 of the 18 places it was said with it, 6 with the clip's own window, none wrongly in 40
_PROMPTED_MIN_CTX = 750


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str  # as spoken, with its punctuation ("forecast.")
    p: float  # mean token probability


@dataclass(frozen=True)
class Transcript:
    language: str | None  # ISO code Whisper detected; None when there was nothing to transcribe
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
    """whisper.cpp on a verified ggml file, behind the voice-activity gate."""

    # Each pack is decoded as one segment of one window (`single_segment`): whisper.cpp then never seeks inside
    # it, so no second encoder pass runs on a pack's last second, and its DTW step always sees the whole pack.
    # (Left to seek, whisper.cpp 1.8.5 aborted the process, WHISPER_ASSERT filter_width < a->ne[2], when a seek
    # left 0.10-0.15 s of a window: DTW's median filter needs 8+ encoder positions. See tests/test_speech_gate.py.)
    def __init__(self, model_path: Path, vad: SileroVad, threads: int | None = None, audio_ctx: bool = True):
        import _pywhispercpp as pw
        from pywhispercpp.model import Model

        self._pw, self.vad, self.audio_ctx = pw, vad, audio_ctx
        self._prompted_lock = threading.Lock()
        self._prompted_model, self._prompted_threads = None, 0  # edge.redecode's context, made on first use
        self.threads = threads  # None: chosen per track by speech_threads()
        self.last_threads = 0
        self.last_stats: dict = {}
        self._model = Model(
            str(model_path),
            redirect_whispercpp_logs_to=None,
            context_params={
                "dtw_token_timestamps": True,
                "dtw_aheads_preset": pw.WHISPER_AHEADS_BASE,
                "flash_attn": False,
                "use_gpu": False,
            },
            n_threads=threads or 1,
            language="",
            print_progress=False,
            print_realtime=False,
            print_timestamps=False,
            no_context=True,
            no_speech_thold=_NO_SPEECH,
            logprob_thold=_MIN_AVG_LOGPROB,
            # No temperature fallback: on silence and music it re-decodes each 30 s window up to 5 times
            # (measured: 2.5x real time on 8 s of room tone) for text that is then dropped anyway.
            temperature_inc=0.0,
        )

    def transcribe(self, audio: np.ndarray | Iterable[np.ndarray]) -> Transcript:
        """One track (an array, or its blocks in order) -> its words, in the track's time base. The language is
        detected on the first chunk of speech and kept for the rest of the track."""
        return self.transcribe_chunks(speech_chunks([audio] if isinstance(audio, np.ndarray) else audio, self.vad))

    def transcribe_chunks(self, chunks: Iterable[Chunk]) -> Transcript:
        """The words of these chunks of one track (what the gate passed; the bench also feeds whole tracks)."""
        language, words, stats = None, [], {"chunks": 0, "packs": 0, "speech_s": 0.0, "rejected_segments": 0}
        self.last_threads = 0
        for pack in packs(chunks):
            if language is None:  # threads measured once per track, and only when there is speech
                self.last_threads = self.threads or speech_threads()
                language = self._detect_language(pack.audio)
            words += self._transcribe_pack(pack, language, stats, _prompt(words))
        self.last_stats = {k: round(v, 2) if isinstance(v, float) else v for k, v in stats.items()}
        return Transcript(language if words else None, _monotonic(words))

    def _run(self, audio: np.ndarray, language: str, **params) -> None:
        audio = _padded(audio)
        one_window = audio.size <= PACK_S * SAMPLE_RATE  # longer audio (the bench's whole tracks) is windowed
        self._model.transcribe(
            audio,
            n_threads=self.last_threads,
            language=language,
            audio_ctx=_encoder_positions(audio) if self.audio_ctx and one_window else 0,
            single_segment=one_window,
            **params,
        )

    def _detect_language(self, audio: np.ndarray) -> str:
        """Whisper's language of the first `_LANGUAGE_PROBE_S` of speech, read with a short encoder window; when
        that reading is unsure (seen: speech over music read as Japanese at p 0.23, then transcribed as a
        Japanese translation), read again with the full 30 s window Whisper was trained on (English at 0.44)."""
        probe = audio[: round(_LANGUAGE_PROBE_S * SAMPLE_RATE)]
        language, p = self._language(probe)
        if p < _SURE_LANGUAGE:
            full = np.zeros(round(30 * SAMPLE_RATE), np.float32)
            full[: probe.size] = probe
            language, _ = self._language(full)
        return language

    def _language(self, audio: np.ndarray) -> tuple[str, float]:
        """The likeliest language of this audio and its probability. whisper.cpp detects with the encoder size of
        the call before, so a call at this audio's size that stops before its encoder runs goes first: the
        result then depends on this audio alone, for the cost of one encoder pass of its size."""
        pw, ctx, params = self._pw, self._model._ctx, self._model._params
        pw.assign_encoder_begin_callback(params, lambda *_: False)
        try:
            self._run(audio, "en", max_tokens=1, detect_language=False, initial_prompt="")
        finally:
            pw.clear_encoder_begin_callback(params)
        audio = _padded(audio)
        pw.whisper_pcm_to_mel(ctx, audio, audio.size, self.last_threads)
        probs = np.zeros(pw.whisper_lang_max_id() + 1, np.float32)
        best = pw.whisper_lang_auto_detect(ctx, 0, self.last_threads, probs)
        return pw.whisper_lang_str(best), float(probs[best])

    def _transcribe_pack(self, pack: Pack, language: str, stats: dict, prompt: str) -> list[Word]:
        self._run(pack.audio, language, max_tokens=0, detect_language=False, initial_prompt=prompt)
        words, rejected = self._read_words(0.0)
        stats["chunks"] += len(pack.starts)
        stats["packs"] += 1
        stats["speech_s"] += pack.audio.size / SAMPLE_RATE
        stats["rejected_segments"] += rejected
        return [Word(pack.track_time(w.start), pack.track_time(w.end), w.text, w.p) for w in words]

    def _read_words(self, offset: float) -> tuple[list[Word], int]:
        """The words of the last whisper.cpp call, `offset` seconds added; and how many segments were rejected."""
        pw, ctx = self._pw, self._model._ctx  # token data is only reachable through the context
        eot = pw.whisper_token_eot(ctx)
        words: list[Word] = []
        previous_end, rejected = offset, 0
        for s in range(pw.whisper_full_n_segments(ctx)):
            bounds = (
                offset + pw.whisper_full_get_segment_t0(ctx, s) / 100.0,
                offset + pw.whisper_full_get_segment_t1(ctx, s) / 100.0,
            )
            pieces: list[tuple[bytes, float, float]] = []  # (token bytes, dtw time, p)
            logprobs = []
            for t in range(pw.whisper_full_n_tokens(ctx, s)):
                data = pw.whisper_full_get_token_data(ctx, s, t)
                if data.id >= eot:  # special and timestamp tokens
                    continue
                # Bytes, not text: a token may hold part of a character (CJK, emoji), whole only per word.
                pieces.append((pw.whisper_token_to_bytes(ctx, data.id), offset + data.t_dtw / 100.0, data.p))
                logprobs.append(data.plog)
            if not pieces:
                continue
            if doubtful(b"".join(p[0] for p in pieces), float(np.mean(logprobs))):
                rejected += 1
                continue
            segment_words = drop_sound_tags(_join_tokens(pieces, previous_end, bounds))
            words.extend(segment_words)
            previous_end = segment_words[-1].end if segment_words else previous_end
        return words, rejected

    def prompted_text(self, audio: np.ndarray, prompt: str, language: str = "en", max_tokens: int = 48) -> str:
        """What Whisper writes for a short clip (under 30 s) when `prompt` is its initial prompt: a rare name it
        misheard without the hint it often spells right with it (edge.redecode). Only the text is needed, so a
        second context without DTW word times serves this (so DTW's assert cannot fire), created on first use. Its
        encoder window is the clip's or `_PROMPTED_MIN_CTX`, whichever is longer: less work than the full 30 s
        window, while one cut to a few seconds loses odd spellings. Greedy, as whisper.cpp's beam search draws its
        candidates at random (the same clip read three ways in four calls). A clip is a few seconds: `max_tokens`
        per segment stops a repetition loop early."""
        with self._prompted_lock:  # one whisper.cpp context serves one call at a time; requests come on threads
            return self._prompted_text(audio, prompt, language, max_tokens)

    def _prompted_text(self, audio: np.ndarray, prompt: str, language: str, max_tokens: int) -> str:
        from pywhispercpp.model import Model

        if self._prompted_model is None:
            self._prompted_model = Model(
                self._model.model_path,
                redirect_whispercpp_logs_to=None,
                context_params={"flash_attn": False, "use_gpu": False},
                print_progress=False,
                print_realtime=False,
                print_timestamps=False,
                no_context=True,
                temperature_inc=0.0,
            )
            self._prompted_threads = self.threads or speech_threads()
        audio = _padded(audio)
        segments = self._prompted_model.transcribe(
            audio,
            initial_prompt=prompt,
            language=language or "en",
            n_threads=self._prompted_threads,
            audio_ctx=max(_encoder_positions(audio), _PROMPTED_MIN_CTX),
            max_tokens=max_tokens,
        )
        return " ".join(s.text.strip() for s in segments)


@dataclass(frozen=True)
class Pack:
    """Chunks of one track laid back to back: one Whisper call. `offsets[i]` is where chunk i starts in `audio`,
    `starts[i]` where it starts in the track."""

    audio: np.ndarray
    offsets: tuple[float, ...]
    starts: tuple[float, ...]

    def track_time(self, t: float) -> float:
        """A time in the pack -> the same moment in the track (a time past a chunk's end stays in that chunk)."""
        i = max(0, int(np.searchsorted(self.offsets, t, side="right")) - 1)
        return self.starts[i] + t - self.offsets[i]


def packs(chunks: Iterable[Chunk], limit_s: float = PACK_S) -> Iterable[Pack]:
    """Consecutive chunks gathered, in order, into packs of at most `limit_s` of audio (a longer chunk alone).
    Each chunk keeps the pause padding edge.vad gave it, so words of two chunks never run together."""
    group: list[Chunk] = []
    for chunk in chunks:
        if group and sum(c.seconds for c in group) + chunk.seconds > limit_s:
            yield _pack(group)
            group = []
        group.append(chunk)
    if group:
        yield _pack(group)


def _pack(group: list[Chunk]) -> Pack:
    offsets = np.cumsum([0.0] + [c.seconds for c in group[:-1]])
    return Pack(np.concatenate([c.audio for c in group]), tuple(offsets.tolist()), tuple(c.start for c in group))


def doubtful(text: bytes, avg_logprob: float) -> bool:
    """Whisper's own rejection rules, per segment: a text that compresses too well is a repetition loop; one
    decoded at a very low average log-probability is a guess. (The no-speech rule, no-speech probability
    above 0.6 with log-probability under -1, whisper.cpp applies itself to each chunk: `no_speech_thold`.)"""
    ratio = len(text) / max(1, len(zlib.compress(text))) if len(text) > 16 else 1.0
    return ratio > _MAX_COMPRESSION or avg_logprob < _DOUBTFUL_LOGPROB


def drop_sound_tags(words: list[Word]) -> list[Word]:
    """Words minus every annotation Whisper writes for a sound, from its opening mark to its closing one,
    however many words it spans ("[BIRDS CHIRPING]", "(upbeat music)", "♪ la la ♪"). A tag still open at
    the end of the segment ends there."""
    kept, closer = [], None
    for word in words:
        text = word.text.strip()
        if closer is None and text[:1] in _TAG_PAIRS:
            closer, text = _TAG_PAIRS[text[0]], text[1:]
        if closer is None:
            kept.append(word)
        elif closer in text:
            closer = None
    return kept


def _join_tokens(
    pieces: list[tuple[bytes, float, float]], previous_end: float, bounds: tuple[float, float]
) -> list[Word]:
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


def _padded(audio: np.ndarray) -> np.ndarray:
    """whisper.cpp refuses inputs under 1 s: shorter audio gets silence after it."""
    short = round(_MIN_INPUT_S * SAMPLE_RATE) - audio.size
    return np.concatenate([audio, np.zeros(short, np.float32)]) if short > 0 else audio


def _encoder_positions(audio: np.ndarray) -> int:
    """The encoder window (`audio_ctx`) that holds this audio and its last word: 50 positions a second."""
    return min(1500, math.ceil(audio.size / SAMPLE_RATE * _FRAMES_PER_S) + AUDIO_CTX_MARGIN)


def _prompt(words: list[Word]) -> str:
    """What was said just before a pack, as Whisper's prompt for it: context for names and spellings
    (faster-whisper conditions on the previous text the same way)."""
    return " ".join(w.text for w in words[-_PROMPT_WORDS:])


def _monotonic(words: list[Word]) -> list[Word]:
    """DTW can leave a word a few ms before the previous one; times must never run backwards."""
    out, reach = [], 0.0
    for w in words:
        start = max(w.start, reach)
        end = max(w.end, start)
        out.append(Word(round(start, 3), round(end, 3), w.text, round(w.p, 4)))
        reach = start
    return out
