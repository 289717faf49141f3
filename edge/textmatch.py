"""Timed text (spoken words, on-screen text) -> exact hits and semantic windows.

Exact matching compares normalised words: case, punctuation and diacritics never matter ("Café," = "cafe"),
and a hit always covers whole words ("cat" never matches "category"). On-screen text is also space-
insensitive ("SALE50%OFF" holds "sale 50% off") and tolerates one OCR character error in words of
`_TOLERANT_LEN` or more characters.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")  # letters/digits, keeping inner apostrophes ("don't")
_TOLERANT_LEN = 5
_SENTENCE_END = re.compile(r"[.!?…。！？]$")


@dataclass(frozen=True)
class TimedText:
    start: float
    end: float
    text: str


def normalise(text: str) -> list[str]:
    """Words of a text, casefolded, without diacritics or punctuation."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return [w.replace("'", "") for w in _WORD.findall(plain)]


def spoken_hits(words: list[TimedText], prompt: str) -> list[TimedText]:
    """Every occurrence of the prompt's words as consecutive spoken words, with their times."""
    target = normalise(prompt)
    if not target:
        return []
    # A spoken word can normalise to several ("U.S." -> "u", "s"); keep each piece's time.
    flat = [(piece, w) for w in words for piece in normalise(w.text)]
    tokens = [piece for piece, _ in flat]
    hits, n = [], len(target)
    for i in range(len(tokens) - n + 1):
        if tokens[i:i + n] == target:
            first, last = flat[i][1], flat[i + n - 1][1]
            hits.append(TimedText(first.start, last.end, " ".join(w.text for _, w in flat[i:i + n])))
    return hits


def _within_one_edit(a: str, b: str) -> bool:
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i + (len(a) == len(b)):] == b[i + 1:]


def screen_text_matches(text: str, prompt: str, tolerant: bool = True) -> bool:
    """Whether the prompt appears in an on-screen text as whole words, ignoring spaces; one character may
    differ (OCR misreads) when the prompt is `_TOLERANT_LEN` or more characters long."""
    target = "".join(normalise(prompt))
    words = normalise(text)
    if not target:
        return False
    tolerant = tolerant and len(target) >= _TOLERANT_LEN
    for i in range(len(words)):
        joined = ""
        for j in range(i, len(words)):
            joined += words[j]
            if joined == target or (tolerant and _within_one_edit(joined, target)):
                return True
            if len(joined) > len(target) + 1:
                break
    return False


def sentence_windows(words: list[TimedText], min_words: int = 8, max_words: int = 40) -> list[TimedText]:
    """Spoken words -> windows for semantic matching: sentences, short ones merged with the next so a window
    carries enough context to mean something, long ones cut at `max_words`."""
    windows, current = [], []
    for w in words:
        current.append(w)
        ends_sentence = bool(_SENTENCE_END.search(w.text))
        if (ends_sentence and len(current) >= min_words) or len(current) >= max_words:
            windows.append(current)
            current = []
    if current:
        if windows and len(current) < min_words // 2:
            windows[-1].extend(current)  # a dangling fragment belongs to the sentence before it
        else:
            windows.append(current)
    return [TimedText(ws[0].start, ws[-1].end, " ".join(w.text for w in ws)) for ws in windows]
