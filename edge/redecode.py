"""exact_match's second chance for a rare spoken name: re-decode the few places it may have been said, with
the name as Whisper's prompt.

Whisper base writes a name it does not know as something else ("Llandudno" -> "London up", "Husqvarna" ->
"Huskman"), and often nothing in those letters is close enough to tell it from a real word that sounds alike
(edge.soundalike). Told to expect the name (its initial prompt), Whisper spells it right where it was said,
and still writes what was said elsewhere ("chapel" stays "chapel" with "Tiruchirappalli" as the hint): on the
development set's fit part no near-miss word turned into the name. Candidates are kept few, since each costs a
decode of a few seconds of audio (~1 s of CPU): runs of 1 to `MAX_WORDS` words that Whisper itself doubted
(every word's probability under `MAX_P`) and whose sounds loosely match the name's (Metaphone keys). Each is
re-decoded with `CONTEXT_WORDS` words either side, since a name cut out alone is not recognised.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jellyfish
import numpy as np

from edge.textmatch import SpokenWords, normalise, runs_hold, word_runs

MAX_WORDS = 3
MAX_P = 0.6  # mishearings seen at p 0.19-0.51; a word Whisper is sure of is what was said
SOUND_MIN = 0.62  # Jaro-Winkler of the Metaphone keys: loose, the re-decode decides
MIN_LETTERS = 6  # shorter names are recognised well and collide with everyday words
CONTEXT_WORDS = 4
PAD_S = 0.5


@dataclass(frozen=True)
class Candidate:
    first: int  # spoken words (items) of the doubted run, inclusive
    last: int
    start: float  # the audio re-decoded: the run with its context
    end: float


@dataclass(frozen=True)
class Confirmed:
    first: int
    last: int
    exact: bool  # the re-decode holds the name as a word, letter for letter


def candidates(items: list[dict], name: str) -> list[Candidate]:
    """Where the name may have been said and misheard, at most one candidate per audio span (overlapping
    spans merged), in time order."""
    target = "".join(normalise(name))
    if len(target) < MIN_LETTERS or not target.isalpha():
        return []
    spoken = SpokenWords([i["text"] for i in items])
    tokens, key = spoken.tokens, jellyfish.metaphone(target)
    runs = []
    for i in range(len(tokens)):
        joined = ""
        for j in range(i, min(i + MAX_WORDS, len(tokens))):
            if items[spoken.owner(j)]["p"] >= MAX_P:
                break
            joined += tokens[j]
            if len(joined) > 1.6 * len(target):
                break
            if (
                len(joined) >= 0.45 * len(target)
                and jellyfish.jaro_winkler_similarity(key, jellyfish.metaphone(joined)) >= SOUND_MIN
            ):
                runs.append((spoken.owner(i), spoken.owner(j)))
    merged: list[Candidate] = []
    for first, last in sorted(set(runs)):
        a, b = max(0, first - CONTEXT_WORDS), min(len(items) - 1, last + CONTEXT_WORDS)
        start, end = max(0.0, items[a]["start"] - PAD_S), items[b]["end"] + PAD_S
        if merged and start <= merged[-1].end:
            m = merged[-1]
            merged[-1] = Candidate(m.first, max(m.last, last), m.start, max(m.end, end))
        else:
            merged.append(Candidate(first, last, start, end))
    return merged


def read_spans(path: Path, spans: list[tuple[float, float]]) -> Iterator[np.ndarray]:
    """The audio of time-ordered, disjoint spans of a file's track, streamed (a long track is never held)."""
    from edge.audio import SAMPLE_RATE, audio_blocks  # the decoder loads only when a name is re-decoded

    blocks = audio_blocks(path)
    if blocks is None:
        return
    pending = [(round(a * SAMPLE_RATE), round(b * SAMPLE_RATE)) for a, b in spans]
    held, offset = [], 0  # samples of the current span so far; where the current block starts
    for block in blocks:
        while pending:
            a, b = pending[0]
            lo, hi = max(a, offset), min(b, offset + block.size)
            if hi > lo:
                held.append(block[lo - offset : hi - offset])
            if b > offset + block.size:
                break
            yield np.concatenate(held) if held else np.zeros(0, np.float32)
            held = []
            pending.pop(0)
        offset += block.size
        if not pending:
            return
    for _ in pending:  # spans past the end of the track
        yield np.concatenate(held) if held else np.zeros(0, np.float32)
        held = []


def confirm(transcriber, path: Path, items: list[dict], name: str, language: str | None) -> list[Confirmed]:
    """The candidates (see `candidates`) that Whisper, re-decoding their audio with the name as its prompt,
    writes as the name: exactly, within one letter, or inside a longer word."""
    found = candidates(items, name)
    target = "".join(normalise(name))
    confirmed = []
    for cand, audio in zip(found, read_spans(path, [(c.start, c.end) for c in found])):
        if audio.size == 0:
            continue
        runs = word_runs(normalise(transcriber.prompted_text(audio, name, language or "en")))
        # inside a longer word too: the hint makes Whisper stutter into it at times ("Kirkkirkcaldy")
        if runs_hold(runs, target) or any(target in run for run in runs):
            confirmed.append(Confirmed(cand.first, cand.last, target in runs))
    return confirmed
