"""Segments x prompts -> per-class clips and scores for one video (vectorized NumPy).

Definitions (also in the README):
- sample score: calibrated 0-100 score of one segment against a class = max over the class's prompts.
- clip: a maximal run of consecutive segments of one source whose sample score >= min_clip_score;
  start = first segment's start, end = last segment's end, score = the run's peak, prompt = the prompt at the peak.
- duration_ratio: length of the union of the class's clips (all sources) / video duration.
- class score: the probability that the class is in the video, x 100, from the whole series of its sample
  scores (edge.confidence); it does not depend on the thresholds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from edge import redecode, soundalike
from edge.textmatch import SpokenWords, normalise, runs_hold, screen_words, word_runs
from edge.types import CONVERSATION, Clip, Thresholds

FUZZY_WEIGHT = 0.7  # a sound-alike hit scores lower than a word-for-word one
# A spoken exact_match clip keeps this much sound either side of its words: a name lasts ~0.7 s, too short to
# hear in a player or to count for min_duration_ratio; under 1 s, so each edge stays within 1 s of the word.
SPOKEN_CONTEXT_S = 0.9


def sample_scores(
    vectors: np.ndarray, prompt_matrix: np.ndarray, offset: np.ndarray, class_starts: np.ndarray, calibrate
) -> tuple[np.ndarray, np.ndarray]:
    """Scores [S, C] for S segments and C classes, and the calibration features [S, P] behind them.

    prompt_matrix [P, D] holds the prompts class by class (class c owns columns class_starts[c]:class_starts[c+1])
    already multiplied by their calibration scale, so one matmul gives every calibration feature.
    The calibration is monotonic, so the max over a class's prompts is taken before it.
    """
    features = vectors @ prompt_matrix.T
    features -= offset
    return calibrate(np.maximum.reduceat(features, class_starts, axis=1)), features


def find_clips(
    starts: np.ndarray,
    ends: np.ndarray,
    scores: np.ndarray,
    min_clip_score: float,
    option: str,
    prompt_at: Callable[[int], str],
) -> list[Clip]:
    """Maximal runs of scores >= min_clip_score, for one class and one source.

    prompt_at(i) names the class's best prompt at segment i; it is asked only at clip peaks.
    """
    mask = np.concatenate(([False], scores >= min_clip_score, [False]))
    edges = np.flatnonzero(mask[1:] != mask[:-1])
    clips = []
    for lo, hi in zip(edges[::2], edges[1::2]):
        peak = lo + int(np.argmax(scores[lo:hi]))
        clips.append(
            Clip(
                float(starts[lo]),
                float(ends[hi - 1]),
                float(scores[peak]),
                option,
                prompt_at(peak),
                float(starts[peak]),
            )
        )
    return clips


def segment_clips(
    starts: np.ndarray,
    ends: np.ndarray,
    scores: np.ndarray,
    min_clip_score: float,
    option: str,
    prompt_at: Callable[[int], str],
    gap_s: float = 1.0,
) -> list[Clip]:
    """Clips of timed-text segments (sentence windows, on-screen text spans), which need not be adjacent in
    time nor ordered like visual samples: one clip per passing segment, merged with the clips it overlaps or
    nearly touches (within `gap_s`). A merged clip keeps the best score and its prompt."""
    passing = sorted(np.flatnonzero(scores >= min_clip_score), key=lambda i: (starts[i], ends[i]))
    clips: list[Clip] = []
    for i in passing:
        clip = Clip(float(starts[i]), float(ends[i]), float(scores[i]), option, "", float(starts[i] + ends[i]) / 2)
        if clips and clip.start <= clips[-1].end + gap_s:
            last = clips[-1]
            best = clip if clip.score > last.score else last
            clips[-1] = Clip(
                last.start, max(last.end, clip.end), best.score, option, best.prompt or prompt_at(i), best.peak
            )
        else:
            clips.append(Clip(clip.start, clip.end, clip.score, option, prompt_at(i), clip.peak))
    return clips


class ExactText:
    """A video's timed text of one source, normalised once for exact matching (see edge.textmatch).

    Spoken words: every occurrence of a prompt, from its first word's start to its last word's end (the
    response widens these, `with_context`).
    On-screen text: every text span holding a prompt. A clip's score is the reader's confidence in what it
    read (mean token probability of the words, or the OCR confidence), x 100, lowered by 10% when a
    misread character had to be tolerated. When a spoken prompt is not found word for word, runs of words that
    sound and look like it (edge.soundalike) are taken instead, at FUZZY_WEIGHT x similarity; and
    failing those, runs that Whisper wrote as the prompt when re-decoding them with it as its hint
    (edge.redecode, `confirmed_clips`), at FUZZY_WEIGHT (x 0.9 when one letter differed).
    """

    def __init__(self, items: list[dict], option: str, language: str | None = None):
        self.items, self.option, self.language = items, option, language
        if option == CONVERSATION:
            self._spoken = SpokenWords([i["text"] for i in items])
        else:
            self._screen = [word_runs(screen_words(i["text"])) for i in items]

    def matches(self, prompts: tuple[str, ...]) -> tuple[list[Clip], bool]:
        """The prompts' clips, and whether only a tolerant reading found them (the sound-alike fallback for
        speech, a tolerated OCR misread on screen): such hits are often a different word."""
        if self.option != CONVERSATION:
            clips, exact = self._screen_clips(prompts)
            return clips, bool(clips) and not exact
        clips = self.clips(prompts)
        if clips:
            return clips, False
        fuzzy = []
        for prompt in prompts:
            words = normalise(prompt)
            if len(words) != 1:
                continue
            for hit in soundalike.find(self._spoken.tokens, words[0]):
                a, b = self._spoken.owner(hit.first), self._spoken.owner(hit.last)
                # not x the words' probability: Whisper doubts every word it mishears (seen: p 0.2-0.5), which
                # left every sound-alike clip under the default min_clip_score (30)
                score = 100.0 * FUZZY_WEIGHT * hit.similarity
                fuzzy.append(Clip(self.items[a]["start"], self.items[b]["end"], score, self.option, prompt))
        return fuzzy, bool(fuzzy)

    def confirmed_clips(self, prompt: str, confirmed: list[redecode.Confirmed]) -> list[Clip]:
        """Clips of the spoken runs a prompted re-decode wrote as the prompt."""
        return [
            Clip(
                self.items[c.first]["start"],
                self.items[c.last]["end"],
                100.0 * FUZZY_WEIGHT * (1.0 if c.exact else 0.9),
                self.option,
                prompt,
            )
            for c in confirmed
        ]

    def clips(self, prompts: tuple[str, ...]) -> list[Clip]:
        """Clips of the prompts: word for word in speech; on screen with one OCR misread tolerated."""
        if self.option != CONVERSATION:
            return self._screen_clips(prompts)[0]
        clips = []
        for prompt in prompts:
            for a, b in self._spoken.find(prompt):
                p = float(np.mean([w["p"] for w in self.items[a : b + 1]]))
                clips.append(Clip(self.items[a]["start"], self.items[b]["end"], 100.0 * p, self.option, prompt))
        return clips

    def _screen_clips(self, prompts: tuple[str, ...]) -> tuple[list[Clip], bool]:
        """On-screen clips, and whether any of them holds a prompt exactly."""
        clips, any_exact = [], False
        targets = [(prompt, "".join(normalise(prompt))) for prompt in prompts]
        for item, runs in zip(self.items, self._screen):
            for prompt, target in targets:
                exact = runs_hold(runs, target, tolerant=False)
                if exact or runs_hold(runs, target, misreads_only=True):
                    score = 100.0 * item["confidence"] * (1.0 if exact else 0.9)
                    clips.append(Clip(item["start"], item["end"], score, self.option, prompt))
                    any_exact = any_exact or exact
                    break
        return clips, any_exact


def with_context(clip: Clip, duration: float) -> Clip:
    """A spoken exact_match clip widened by SPOKEN_CONTEXT_S either side, inside the video."""
    start, end = max(0.0, clip.start - SPOKEN_CONTEXT_S), min(duration, clip.end + SPOKEN_CONTEXT_S)
    peak = clip.peak if clip.peak is not None else (clip.start + clip.end) / 2
    return replace(clip, start=start, end=max(start, end), peak=peak)


def union_length(clips: list[Clip], duration: float) -> float:
    total, reach = 0.0, 0.0
    for clip in sorted(clips, key=lambda c: c.start):
        start, end = max(clip.start, reach), min(clip.end, duration)
        if end > start:
            total += end - start
        reach = max(reach, end)
    return total


def class_result(
    name: str, clips: list[Clip], duration: float, thresholds: Thresholds, include_clips: bool, score: float
) -> dict | None:
    """The response entry for one class of one video (its class score given), or None when it misses a threshold."""
    if not clips:
        return None
    ratio = min(1.0, union_length(clips, duration) / duration)
    if score < thresholds.min_video_score or ratio < thresholds.min_duration_ratio:
        return None
    clips = sorted(clips, key=lambda c: (c.start, c.option))
    entry = {"name": name, "score": round(score, 2), "duration_ratio": round(ratio, 4)}
    if include_clips:
        # "_peak" stays in the stored result set: edge.classify.wire turns it into thumbnail_url or drops it
        entry["clips"] = [
            {
                "start": round(c.start, 3),
                "end": round(c.end, 3),
                "score": round(c.score, 2),
                "option": c.option,
                "prompt": c.prompt,
                "_peak": round(c.peak if c.peak is not None else (c.start + c.end) / 2, 2),
            }
            for c in clips
        ]
    entry["_clip_scores"] = [c.score for c in clips]
    return entry


def finish_video(classes: list[dict], detailed: bool) -> list[dict]:
    """Order a video's passing classes and add detailed_scores (normalized = 100 * s / sum s)."""
    classes = sorted(classes, key=lambda c: -c["score"])
    total = sum(c["score"] for c in classes)
    for c in classes:
        clip_scores = c.pop("_clip_scores")
        if detailed:
            c["detailed_scores"] = {
                "max_score": round(max(clip_scores), 2),
                "avg_score": round(float(np.mean(clip_scores)), 2),
                "normalized_score": round(100.0 * c["score"] / total, 2),
            }
    return classes
