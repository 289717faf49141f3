"""OCR readings per sample -> timed text spans, tolerant of OCR noise and of scrolling tickers.

The same text in consecutive samples is one span even when OCR reads it slightly differently
(a character dropped or confused), and a ticker whose visible window moves is one span whose
text is stitched from the windows. A text that is gone for more than `patience` samples ends;
seen again later, it starts a new span.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from difflib import SequenceMatcher

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in frame pixels


@dataclass(frozen=True)
class Reading:
    """One text line read in one sample. fresh=False: carried from an earlier OCR of an unchanged
    region; it extends a span but casts no vote on its text."""

    text: str
    score: float
    box: Box
    fresh: bool = True


@dataclass(frozen=True)
class TextSpan:
    start: float
    end: float
    text: str
    confidence: float
    box: Box  # union of the boxes the text was read in


def _reading_key(text: str) -> str:
    """How two readings of one line compare: spacing and case do not matter (edge.textmatch.normalise is for matching
    prompts, which also drops punctuation and diacritics)."""
    return re.sub(r"\s+", " ", text).strip().casefold()


def similarity(a: str, b: str) -> float:
    """1.0 for the same text; ~1 - (edits / length) for small OCR differences."""
    return SequenceMatcher(None, _reading_key(a), _reading_key(b), autojunk=False).ratio()


def _overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box: a text whose box jitters or grows still overlaps itself."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / max(smaller, 1)


def _same_line(a: Box, b: Box) -> bool:
    h = min(a[3], b[3]) - max(a[1], b[1])
    return h > 0.5 * min(a[3] - a[1], b[3] - b[1]) and min(a[2], b[2]) > max(a[0], b[0])


def _shared_run(a: str, b: str):
    """Longest common run of characters, if it is a real overlap rather than a shared word."""
    m = SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b))
    return m if m.size >= max(4, 0.5 * min(len(a), len(b))) else None


@dataclass
class _Track:
    start: float
    last: float
    latest: Reading
    readings: list[Reading] = field(default_factory=list)
    stitched: str = ""
    box: Box = (0, 0, 0, 0)

    def add(self, t: float, r: Reading) -> None:
        self.last, self.latest = t, r
        self.box = (
            (
                min(self.box[0], r.box[0]),
                min(self.box[1], r.box[1]),
                max(self.box[2], r.box[2]),
                max(self.box[3], r.box[3]),
            )
            if self.readings
            else r.box
        )
        self.readings.append(r)
        if not self.stitched:
            self.stitched = r.text
        elif r.fresh and (m := _shared_run(self.stitched, r.text)):
            # A ticker: the new window reaches further right than what we have, so append its tail.
            if len(r.text) - (m.b + m.size) > len(self.stitched) - (m.a + m.size) + 1:
                self.stitched = self.stitched[: m.a + m.size] + r.text[m.b + m.size :]

    def span(self, end: float) -> TextSpan:
        votes = [r for r in self.readings if r.fresh] or self.readings
        weight: dict[str, float] = defaultdict(float)
        for r in votes:
            weight[_reading_key(r.text)] += r.score
        best = max(weight, key=weight.get)
        group = [r for r in votes if _reading_key(r.text) == best]
        text = Counter(r.text.strip() for r in group).most_common(1)[0][0]
        # Disagreement lowers it: the group's mean score times the share of readings close to the text.
        agree = sum(similarity(r.text, text) >= 0.6 for r in votes) / len(votes)
        confidence = weight[best] / len(group) * agree
        if len(self.stitched) > 1.3 * max(len(r.text) for r in votes):  # it scrolled: the whole text
            text, confidence = self.stitched.strip(), sum(r.score for r in votes) / len(votes)
        return TextSpan(self.start, end, text, round(confidence, 4), self.box)


class TextTracker:
    def __init__(self, step: float, min_similarity: float = 0.6, patience: int = 1, min_chars: int = 2):
        """patience: samples a text may be missed (an OCR dropout) and still continue its span."""
        self.step, self.min_similarity, self.patience, self.min_chars = step, min_similarity, patience, min_chars
        self._active: list[_Track] = []
        self._done: list[_Track] = []

    def _affinity(self, track: _Track, r: Reading) -> float:
        if _overlap(track.latest.box, r.box) < 0.3 and not _same_line(track.latest.box, r.box):
            return 0.0
        sim = similarity(track.latest.text, r.text)
        if sim >= self.min_similarity:
            return sim + _overlap(track.latest.box, r.box)
        if _same_line(track.latest.box, r.box) and _shared_run(track.stitched, r.text):
            return 0.5  # the next window of a ticker: weakest kind of match
        return 0.0

    def _fragment(self, r: Reading) -> bool:
        """Part of a text already on screen (the detector split "EDGE TV" into "EDGE" and "TV" this time)?"""
        return any(
            _overlap(tr.box, r.box) > 0.8 and _reading_key(r.text) in _reading_key(tr.stitched) for tr in self._active
        )

    def update(self, t: float, readings: list[Reading]) -> None:
        """Readings of the sample at time t (call for every sample, in time order, even with none)."""
        pairs = sorted(
            (
                (a, i, j)
                for i, tr in enumerate(self._active)
                for j, r in enumerate(readings)
                if (a := self._affinity(tr, r)) > 0
            ),
            reverse=True,
        )
        used_t, used_r = set(), set()
        for _, i, j in pairs:  # greedy: the best-matching pairs first, each track and reading once
            if i not in used_t and j not in used_r:
                used_t.add(i)
                used_r.add(j)
                self._active[i].add(t, readings[j])
        for j, r in enumerate(readings):
            if j not in used_r and not self._fragment(r):
                track = _Track(t, t, r)
                track.add(t, r)
                self._active.append(track)
        still = []
        for track in self._active:
            (still if t - track.last <= self.patience * self.step + 1e-6 else self._done).append(track)
        self._active = still

    def finish(self, duration: float) -> list[TextSpan]:
        self._done += self._active
        self._active = []
        spans = []
        for track in self._done:
            end = track.last + self.step
            span = track.span(min(end, duration) if duration > track.last else end)
            if sum(c.isalnum() for c in span.text) >= self.min_chars:
                spans.append(span)
        return sorted(spans, key=lambda s: (s.start, s.box[1], s.box[0]))
