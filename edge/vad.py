"""Voice activity: which stretches of a track hold speech (Silero VAD v6, ONNX on onnxruntime), as a stream.

One gate serves two ends: music, tones and noise never reach Whisper (it writes words for them: "[BIRDS
CHIRPING]", lyrics, "Thank you."), and long silences cost no speech time. Audio arrives in blocks of any size
(edge.audio streams a file); the model runs on 32 ms windows carrying its LSTM state and 4 ms of context
across blocks, so its output does not depend on how the track was cut, and what is kept in memory is the
current chunk, not the file. Speech stretches are grouped into `Chunk`s of contiguous audio of at most
`MAX_CHUNK_S` (one Whisper window), split where a pause is longer than `MAX_GAP_S`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000
WINDOW = 512  # samples per model step (32 ms)
CONTEXT = 64  # samples of the previous window the model sees with each one
THRESHOLD = 0.5  # speech starts at this probability ...
NEG_THRESHOLD = 0.35  # ... and ends below this one (hysteresis, as Silero's own get_speech_timestamps)
MIN_SPEECH_S = 0.25  # shorter blips (a click, a note's attack) are not speech
MIN_SILENCE_S = 0.3  # a stretch ends after this much quiet
LEAD_S = 0.6  # audio kept before a stretch: the model is slow to rise on soft onsets (0.7 s on espeak's "The next")
TAIL_S = 0.3  # and after it (its end is seen after MIN_SILENCE_S anyway)
MAX_GAP_S = 1.5  # pauses up to this stay inside one chunk (one Whisper call); longer ones split chunks
MAX_CHUNK_S = 28.0  # one Whisper window (edge.speech.PACK_S): a longer stretch is cut at its quietest moment


@dataclass(frozen=True)
class Chunk:
    start: float  # seconds from the start of the track
    audio: np.ndarray  # float32, 16 kHz mono, contiguous from `start`

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


class SileroVad:
    """The Silero VAD v6 ONNX model (from the verified model store); one thread, as it needs ~2 ms per second."""

    def __init__(self, model_path: Path):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])

    def stream(self) -> _ProbabilityStream:
        return _ProbabilityStream(self._session)


class _ProbabilityStream:
    """Speech probability per 512-sample window of a track fed in blocks of any size."""

    def __init__(self, session):
        self._session = session
        self._state = (np.zeros((1, 1, 128), np.float32), np.zeros((1, 1, 128), np.float32))
        self._context = np.zeros(CONTEXT, np.float32)
        self._pending = np.zeros(0, np.float32)

    def feed(self, samples: np.ndarray, final: bool = False) -> np.ndarray:
        data = np.concatenate([self._pending, samples]) if self._pending.size else samples
        if final and data.size % WINDOW:  # the last partial window, padded with silence as Silero does
            data = np.concatenate([data, np.zeros(WINDOW - data.size % WINDOW, np.float32)])
        n = data.size // WINDOW
        self._pending = data[n * WINDOW :].copy()
        if n == 0:
            return np.zeros(0, np.float32)
        windows = data[: n * WINDOW].reshape(n, WINDOW)
        contexts = np.concatenate([self._context[None], windows[:-1, -CONTEXT:]])
        self._context = windows[-1, -CONTEXT:].copy()
        probs, h, c = self._session.run(
            None, {"input": np.concatenate([contexts, windows], axis=1), "h": self._state[0], "c": self._state[1]}
        )
        self._state = (h, c)
        return np.asarray(probs, np.float32).reshape(-1)


class _StretchFinder:
    """Window probabilities -> speech stretches (start, end) in samples, with Silero's hysteresis rules."""

    def __init__(self):
        self.window = 0  # index of the next window
        self._start: int | None = None
        self._quiet_since: int | None = None
        self._probs: list[float] = []  # of the open stretch, to cut an overlong one at its quietest moment

    def feed(self, probs: np.ndarray) -> list[tuple[int, int]]:
        found = []
        max_windows = int((MAX_CHUNK_S - LEAD_S - TAIL_S) * SAMPLE_RATE / WINDOW)
        for p in probs:
            i, self.window = self.window, self.window + 1
            if self._start is None:
                if p >= THRESHOLD:
                    self._start, self._quiet_since, self._probs = i, None, [float(p)]
                continue
            self._probs.append(float(p))
            if p >= THRESHOLD:
                self._quiet_since = None
            elif p < NEG_THRESHOLD and self._quiet_since is None:
                self._quiet_since = i
            if self._quiet_since is not None and (i - self._quiet_since) * WINDOW >= MIN_SILENCE_S * SAMPLE_RATE:
                found += self._close(self._quiet_since)
            elif i - self._start >= max_windows:  # no pause for MAX_CHUNK_S: cut at its 2nd half's quietest point
                half = len(self._probs) // 2
                k = half + int(np.argmin(self._probs[half:]))
                cut, rest = self._start + k, self._probs[k + 1 :]
                found += self._close(cut)
                self._start, self._probs = cut + 1, rest
        return found

    def finish(self) -> list[tuple[int, int]]:
        return (
            self._close(self._quiet_since if self._quiet_since is not None else self.window)
            if self._start is not None
            else []
        )

    def _close(self, end_window: int) -> list[tuple[int, int]]:
        start, self._start, self._quiet_since, self._probs = self._start, None, None, []
        if (end_window - start) * WINDOW < MIN_SPEECH_S * SAMPLE_RATE:
            return []
        return [(start * WINDOW, end_window * WINDOW)]


def speech_chunks(blocks: Iterable[np.ndarray], vad: SileroVad) -> Iterator[Chunk]:
    """The speech in a track given as blocks of 16 kHz mono float32, as chunks of contiguous audio, in order.

    Memory: the audio from the start of the chunk being gathered (at most ~MAX_CHUNK_S plus one block and
    MAX_GAP_S), never the whole track. A chunk is yielded as soon as it cannot grow any more."""
    probabilities, chunker = vad.stream(), _Chunker()
    for block in blocks:
        block = np.asarray(block, np.float32).reshape(-1)
        yield from chunker.add(block, chunker.finder.feed(probabilities.feed(block)))
    final = probabilities.feed(np.zeros(0, np.float32), final=True)
    yield from chunker.add(np.zeros(0, np.float32), chunker.finder.feed(final) + chunker.finder.finish(), last=True)


class _Chunker:
    """Groups stretches into chunks and keeps only the audio a chunk can still need."""

    def __init__(self):
        self.finder = _StretchFinder()
        self.buffer, self.buffer_start, self.total = np.zeros(0, np.float32), 0, 0  # samples [start, total)
        self.group: list[tuple[int, int]] = []  # stretches of the chunk being gathered
        self.floor = 0  # a chunk never reaches back before the previous one's end
        self.lead, self.tail, self.gap, self.longest = (
            round(s * SAMPLE_RATE) for s in (LEAD_S, TAIL_S, MAX_GAP_S, MAX_CHUNK_S)
        )

    def add(self, block: np.ndarray, stretches: list[tuple[int, int]], last: bool = False) -> Iterator[Chunk]:
        if block.size:
            self.buffer = np.concatenate([self.buffer, block]) if self.buffer.size else block
            self.total += block.size
        for stretch in stretches:
            if self.group and (
                stretch[0] - self.group[-1][1] > self.gap
                or stretch[1] - self.group[0][0] + self.lead + self.tail > self.longest
            ):
                yield self._cut(next_start=stretch[0])
            self.group.append(stretch)
        # Nothing can join the group once the track has gone on past the longest pause without speech.
        heard_to = self.finder.window * WINDOW if self.finder._start is None else self.finder._start * WINDOW
        if self.group and (last or min(heard_to, self.total) - self.group[-1][1] > self.gap):
            yield self._cut(next_start=None)
        keep_from = self.group[0][0] if self.group else min(heard_to, self.total)
        keep_from = max(self.buffer_start, keep_from - self.lead, self.floor)
        self.buffer, self.buffer_start = self.buffer[keep_from - self.buffer_start :], keep_from

    def _cut(self, next_start: int | None) -> Chunk:
        first, end = self.group[0][0], self.group[-1][1]
        start = max(first - self.lead, self.buffer_start, self.floor)
        stop = min(end + self.tail, self.total)
        if next_start is not None:  # the next chunk's padding must not overlap this one's: meet half-way
            stop = min(stop, max(end, (end + next_start) // 2))
        self.group, self.floor = [], stop
        return Chunk(start / SAMPLE_RATE, self.buffer[start - self.buffer_start : stop - self.buffer_start].copy())
